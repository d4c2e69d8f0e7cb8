"""Is the served model the trained one? Per finetuned cell, a small fixed sample of its recorded
prompts is decoded greedily and briefly by the base model, by the cell as it was served, and (in
multi_lora mode) by its merged checkpoint. A LoRA request silently answered by the base model
(lm-evaluation-harness issue 2432) gives the base model's outputs: the check fails and the report
flags the cell; its scores are kept.

passed = the served outputs differ from the base model's on at least one sampled prompt and, in
multi_lora mode, equal the merged checkpoint's on at least half of them (an unmerged and a merged
adapter round differently: on GPU, bf16 can flip a near-tie; on CPU, fp32, they agree). Whether the
recorded outputs begin with the served short decode is recorded beside it (`recorded_prefix`).
"""

from __future__ import annotations

import random
import time

from maple import grid
from maple.io import provenance, versions, write_record

# open-ended tasks first: a finetuned model's label on XNLI can equal the base model's by right
PROBE_TASKS = ("alpaca_eval", "xlsum", "xquad", "mlqa", "belebele", "xcopa", "xnli")
SAMPLE = 8
NEW_TOKENS = 16


def probe_task(tasks) -> str:
    """The task whose outputs the check samples: the first open-ended one configured."""
    tasks = list(tasks)
    return next((t for t in PROBE_TASKS if t in tasks), tasks[0])


def sample_requests(records: list[dict], seed, n: int = SAMPLE, new_tokens: int = NEW_TOKENS) -> list[dict]:
    """n distinct prompts of the recorded ones (seeded, independent of file order), decoded to at most
    new_tokens; the recorded output rides along."""
    by_prompt = {}
    for r in sorted(records, key=lambda r: (str(r.get("lang")), str(r.get("protocol")), str(r["id"]))):
        if not r.get("failed") and r.get("prompt"):
            by_prompt.setdefault(r["prompt"], r)
    keys = sorted(by_prompt)
    random.Random(f"{seed}|served-check").shuffle(keys)
    out = []
    for prompt in keys[:n]:
        r = by_prompt[prompt]
        out.append({"id": r["id"], "lang": r.get("lang"), "protocol": r.get("protocol"), "task": r.get("task"),
                    "prompt": prompt, "max_new_tokens": min(int(r.get("max_new_tokens") or new_tokens), new_tokens),
                    "stop": r.get("stop") or [], "recorded": r.get("output", "")})
    return out


def verdict(rows: list[dict], multi_lora: bool) -> tuple[bool, str]:
    n = len(rows)
    if not n:
        return False, "no recorded prompt to sample"
    differs = sum(r["served"] != r["base"] for r in rows)
    if not differs:
        return False, f"served outputs equal the base model's on all {n} sampled prompts"
    if multi_lora:
        equal = sum(r["served"] == r["merged"] for r in rows)
        if 2 * equal < n:
            return False, f"LoRA-served outputs equal the merged checkpoint's on {equal} of {n} sampled prompts"
    return True, "ok"


def check_cell(cell_id: str, mode: str, model_cfg: dict, records: list[dict], settings: dict, out_file: str,
               adapter_dir: str | None = None, merged_dir: str | None = None, sample: int = SAMPLE,
               new_tokens: int = NEW_TOKENS) -> dict:
    """Decode the sample with the base, the cell as served (`mode`), and in multi_lora its merged
    checkpoint; write the per-prompt outputs and the verdict to out_file."""
    import gc

    from maple.generate.backends import Adapter
    from maple.generate.run import _backend, generate_unique, served_as

    started = time.time()
    cell = grid.parse_cell(cell_id)
    multi_lora = mode == "multi_lora"
    if multi_lora and not adapter_dir:
        raise ValueError(f"{cell_id}: multi_lora mode needs the adapter directory")
    if not merged_dir:
        raise ValueError(f"{cell_id}: the check needs the merged checkpoint")
    reqs = sample_requests(records, settings["seed"], sample, new_tokens)
    backend = _backend(settings, model_cfg, model_cfg["path"], lora_rank=cell.rank if multi_lora else None)
    base = generate_unique(backend, reqs)
    served = generate_unique(backend, reqs, Adapter(cell.id, 1, adapter_dir, cell.rank)) if multi_lora else None
    backend_name = backend.name
    del backend
    gc.collect()  # one engine at a time
    merged = generate_unique(_backend(settings, model_cfg, merged_dir), reqs)
    if served is None:  # merged mode serves the merged checkpoint itself
        served = merged
    rows = [
        {"id": r["id"], "lang": r["lang"], "protocol": r["protocol"], "prompt": r["prompt"],
         "base": b, "served": s, "merged": m, "recorded_prefix": r["recorded"].startswith(s)}
        for r, b, s, m in zip(reqs, base, served, merged)
    ]
    passed, reason = verdict(rows, multi_lora)
    record = {
        "cell": cell_id,
        "mode": mode,
        "served_as": served_as(cell, mode),
        "task": reqs[0]["task"] if reqs else None,
        "sample": len(rows),
        "new_tokens": new_tokens,
        "differs_from_base": sum(r["served"] != r["base"] for r in rows),
        "equals_merged": sum(r["served"] == r["merged"] for r in rows) if multi_lora else None,
        "recorded_prefix": sum(r["recorded_prefix"] for r in rows),
        "passed": passed,
        "reason": reason,
        "rows": rows,
        "backend": backend_name,
        "model_path": model_cfg["path"],
        "adapter": adapter_dir,
        "merged": merged_dir,
        "seconds": time.time() - started,
        "versions": versions(),
        **provenance(),
    }
    write_record(out_file, record)
    return record
