"""CPU seconds to build one cell's requests at the paper's sizes: maple's own request builder (rows,
shots, fitting each prompt to the context with the model's tokenizer) timed per request on the rows
under --data-dir, times the requests a cell scores per task (maple.plan). A generation job that builds
its own requests holds its GPU meanwhile; with device cuda the workflow builds them once per model on
a CPU job instead (rule build_requests, maple.generate.prebuilt). Also the rate at which a job
tokenises its prompts for vLLM when it builds its own (anchors.yaml generation.job_tokenize_tokens_per_s),
and the rate at which it reads them and their token ids from build_requests' files instead
(generation.job_read_tokens_per_s): distinct prompt tokens per second of prebuilt.read, read_ids and
every prompt's ids as a list.

  python benchmarks/request_build_time.py [--configfile config/paper.yaml] [--model mistral-7b]
      [--tokenizer FILE_OR_DIR] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maple import config as maple_config  # noqa: E402
from maple.generate import prebuilt  # noqa: E402
from maple.generate.backends import prompt_ids  # noqa: E402
from maple.plan import core, grid_cost  # noqa: E402
from maple.plan.tokenizer import load_tokenizer, mistral_v1_model  # noqa: E402
from maple.tasks.budget import Budget  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default=str(ROOT / "config" / "paper.yaml"))
    ap.add_argument("--model", default="mistral-7b")
    ap.add_argument("--tokenizer", default=None, help="default: Mistral-7B-v0.1's, from mistral-common")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args(argv)
    cfg = maple_config.load(args.configfile, ROOT)
    budget = Budget(load_tokenizer(args.tokenizer or mistral_v1_model()), grid_cost.context_length_of(cfg, args.model))

    seconds, built, prompts, requests = defaultdict(float), defaultdict(int), defaultdict(list), defaultdict(list)
    plan_requests = core.plan_requests

    def timed(task, *a, **k):
        t0 = time.perf_counter()
        out = plan_requests(task, *a, **k)
        seconds[task] += time.perf_counter() - t0
        built[task] += len(out[0])
        prompts[task] += [r["prompt"] for r in out[0]]
        requests[task] += out[0]
        return out

    core.plan_requests = timed  # grid_cost calls it through the module
    try:
        grid_cost.task_rows(cfg, args.model, budget, args.data_dir)
    finally:
        core.plan_requests = plan_requests
    plan = grid_cost.plan_config(cfg, args.model, budget, args.data_dir, [])
    per_task = plan["generation_per_cell"]["per_task"]
    rows = {}
    for task, n in built.items():
        per_request = seconds[task] / n if n else 0.0
        scored = per_task.get(task, {}).get("requests", 0)
        rows[task] = {"measured_requests": n, "ms_per_request": round(1000 * per_request, 2),
                      "cell_requests": scored, "cell_seconds": round(per_request * scored)}
    # what a generation job still does with its GPU held: tokenise its prompts for vLLM, one batched call
    # per job (maple.generate.backends.prompt_ids), on the threads this machine has
    tokens, tok_s = 0, 0.0
    for texts in prompts.values():
        t0 = time.perf_counter()
        tokens += sum(len(ids) for ids in prompt_ids(budget.tokenizer, texts))
        tok_s += time.perf_counter() - t0
    # with build_requests' files: what the job reads instead (the requests file and the ids, each
    # distinct prompt's ids turned into the list vLLM takes)
    read_tokens, read_s = 0, 0.0
    fingerprint = prebuilt.tokenizer_fingerprint(budget.tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        for task, rs in requests.items():
            path, ids_path = os.path.join(tmp, f"{task}.jsonl"), os.path.join(tmp, f"{task}.ids.npz")
            prebuilt.write_ids(ids_path, rs, budget.tokenizer)
            prebuilt.write(path, rs, budget.tokenizer, {})
            t0 = time.perf_counter()
            _, read = prebuilt.read(path)
            ids = prebuilt.read_ids(ids_path, read, fingerprint)
            read_tokens += sum(len(ids.get(p)) for p in prebuilt.distinct_prompts(read))
            read_s += time.perf_counter() - t0
    result = {"model": args.model, "data_dir": args.data_dir, "per_task": rows,
              "cell_seconds": sum(r["cell_seconds"] for r in rows.values()),
              "threads": os.cpu_count(), "job_tokenize_tokens_per_s": round(tokens / tok_s),
              "job_read_tokens_per_s": round(read_tokens / read_s)}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
