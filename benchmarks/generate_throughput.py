"""vLLM against the plain transformers generate backend on the workflow's real evaluation workload.

Every task's prompts exactly as the workflow builds them (few-shot prefixes, stop strings, token
limits, both protocols), greedy, same model. Each backend runs in its own process so neither
inherits the other's thread settings. Two scenarios:

  cell   one cell's workload on one checkpoint (the shape of a merged-mode or base-model job)
  group  one multi_lora job exactly as the generate_group_outputs rule runs it: the base loaded
         once, then every adapter of one (model, rank) group (needs `make run`'s adapters);
         HF applies each adapter with peft, vLLM with a LoRARequest

Writes benchmarks/results/generate_throughput_cpu[_group][_<n>ex].json.

    .venv/bin/python benchmarks/generate_throughput.py [--scenario cell|group] [--model tiny-llama] [--rank 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workload(config: dict) -> list[dict]:
    from maple.generate.run import cell_requests

    settings = {"evaluation": config["evaluation"], "prompt": config["prompt"], "seed": config["seed"]}
    return cell_requests(settings)


def run_backend(backend: str, model_path: str, config: dict, out: str) -> None:
    """Child process: load, generate the whole workload once, dump outputs and timings."""
    from maple.generate.backends import make_backend

    requests = workload(config)
    t0 = time.time()
    engine = make_backend(backend, model_path, device="cpu", seed=config["seed"],
                          max_model_len=config["evaluation"]["max_model_len"])
    load_s = time.time() - t0
    t1 = time.time()
    outputs = engine.generate(requests)
    gen_s = time.time() - t1
    tok = _tokenizer(model_path)
    new_tokens = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs)
    prompt_tokens = sum(len(tok(r["prompt"])["input_ids"]) for r in requests)
    Path(out).write_text(json.dumps({
        "backend": backend, "requests": len(requests), "load_s": load_s, "generate_s": gen_s,
        "new_tokens": new_tokens, "prompt_tokens": prompt_tokens, "new_tokens_per_s": new_tokens / gen_s,
        "outputs": outputs,
    }))


def run_group(backend: str, config: dict, model: str, rank: int, out: str) -> None:
    """Child process: the generate_group_outputs rule's own function, with this backend."""
    from maple import grid, paths
    from maple.generate.run import generate_group

    cells = grid.generation_groups(config)[f"{model}/lora-r{rank}"]
    trained = [c for c in cells if not c.is_base]  # the base cell (lowest-rank group) needs no adapter
    missing = [paths.adapter_dir(c) for c in trained if not (ROOT / paths.adapter_dir(c)).exists()]
    if missing:
        sys.exit(f"group scenario: adapters missing (run `make run` first): {', '.join(missing)}")
    settings = {**config, "evaluation": {**config["evaluation"], "backend": backend}}
    model_cfg = {**config["models"][model], "path": str(ROOT / config["models"][model]["path"])}
    group_dir = ROOT / ".cache" / f"bench-group-{backend}"
    summaries = generate_group([c.id for c in cells], [str(ROOT / paths.adapter_dir(c)) for c in trained],
                               model_cfg, str(group_dir), settings)
    outputs = {}
    for cell in cells:
        for task in config["evaluation"]["tasks"]:
            rows = [json.loads(line) for line in open(paths.group_member_file(str(group_dir), cell, task))]
            outputs.update({f"{cell.id}|{r['task']}|{r['lang']}|{r['protocol']}|{r['id']}": r["output"] for r in rows})
    Path(out).write_text(json.dumps({
        "backend": backend, "cells": [c.id for c in cells],
        "requests": sum(s["requests"] for s in summaries.values()),
        "generate_s_per_cell": {c: s["generate_seconds"] for c, s in summaries.items()},
        "generate_s": sum(s["generate_seconds"] for s in summaries.values()),
        "outputs": outputs,
    }))


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--scenario", choices=("cell", "group"), default="cell")
    parser.add_argument("--rank", type=int, default=8, help="group scenario: the rank group to serve")
    parser.add_argument("--max-examples", type=int, default=None, help="override evaluation.max_examples")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    from maple import config as maple_config

    config = maple_config.load(args.config, ROOT)
    if args.max_examples:
        config["evaluation"]["max_examples"] = args.max_examples
    model_path = str(ROOT / config["models"][args.model]["path"])
    if args.child and args.scenario == "group":
        os.chdir(ROOT)  # the config's local paths are relative to the project
        run_group(args.child[0], config, args.model, args.rank, args.child[1])
        return
    if args.child:
        run_backend(args.child[0], model_path, config, args.child[1])
        return

    results = {}
    for backend in ("hf", "vllm"):
        out = ROOT / ".cache" / f"bench-{backend}.json"
        out.parent.mkdir(exist_ok=True)
        cmd = [sys.executable, __file__, "--config", args.config, "--model", args.model, "--scenario", args.scenario,
               "--rank", str(args.rank), "--child", backend, str(out)]
        if args.max_examples:
            cmd += ["--max-examples", str(args.max_examples)]
        t0 = time.time()
        # the same thread count for both, as the workflow's rules set it (vLLM drops to 1 when unset)
        threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": threads})
        results[backend] = {**json.loads(out.read_text()), "process_wall_s": time.time() - t0}

    hf, vl = results["hf"], results["vllm"]
    if args.scenario == "group":
        write_report(group_report(hf, vl, args), args, "_group")
        return
    same = sum(a == b for a, b in zip(hf["outputs"], vl["outputs"]))
    report = {
        "device": f"cpu: {os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "model": args.model,
        "max_examples": config["evaluation"].get("max_examples"),
        "requests": hf["requests"],
        "prompt_tokens": hf["prompt_tokens"],
        "identical_outputs": same,
        "identical_share": same / hf["requests"],
        "rows": [
            {k: r[k] for k in ("backend", "load_s", "generate_s", "process_wall_s", "new_tokens", "new_tokens_per_s")}
            for r in (hf, vl)
        ],
        "speedup_generate": hf["generate_s"] / vl["generate_s"],
        "speedup_wall": hf["process_wall_s"] / vl["process_wall_s"],
    }
    write_report(report, args, "")


def group_report(hf: dict, vl: dict, args) -> dict:
    keys = sorted(hf["outputs"])
    same = sum(hf["outputs"][k] == vl["outputs"].get(k) for k in keys)
    return {
        "device": f"cpu: {os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "scenario": "group: one multi_lora job (generate_group_outputs), base loaded once, one pass per adapter",
        "model": args.model,
        "rank": args.rank,
        "cells": hf["cells"],
        "requests": hf["requests"],
        "identical_outputs": same,
        "identical_share": same / len(keys),
        "rows": [
            {"backend": r["backend"], "generate_s": r["generate_s"], "process_wall_s": r["process_wall_s"],
             "generate_s_per_cell": r["generate_s_per_cell"]}
            for r in (hf, vl)
        ],
        "speedup_generate": hf["generate_s"] / vl["generate_s"],
        "speedup_wall": hf["process_wall_s"] / vl["process_wall_s"],
    }


def write_report(report: dict, args, scenario_suffix: str) -> None:
    from maple.io import versions

    report.setdefault("max_examples", args.max_examples)
    report["versions"] = versions()
    suffix = scenario_suffix + (f"_{args.max_examples}ex" if args.max_examples else "")
    dest = ROOT / "benchmarks" / "results" / f"generate_throughput_cpu{suffix}.json"
    dest.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "versions"}, indent=2))


if __name__ == "__main__":
    main()
