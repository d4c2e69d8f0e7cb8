"""Is the served model the trained one? Per finetuned cell, a small fixed sample of its recorded
prompts: are the cell's recorded outputs its base model's (a LoRA request silently answered by the
base, lm-evaluation-harness issue 2432)? A failing cell is flagged in the report; its scores are kept.

No engine where the grid already holds the answer: the base model's outputs are its base cell's
recorded outputs on the same prompts (a task's prompts do not depend on the cell); only without a
base cell is the sample decoded by the base. In merged mode the served model is the merged
checkpoint, so the recorded outputs are its outputs. In multi_lora mode the adapter is merged in
memory (maple.train.merge) and the sample decoded by the HF backend: no merge job, no second engine.

Outputs are compared on their first NEW_TOKENS tokens (the model's tokenizer, applied to both
sides): a long recorded output can drift late from a batch-dependent rounding, its start cannot
without a near-tie. Short decodes run to 2 x NEW_TOKENS so that a token merging across the cut
does not tell two equal decodes apart.

passed = the recorded outputs differ from the base model's on at least one sampled prompt and, in
multi_lora mode, equal the in-memory merge's on at least half of them (vLLM's unmerged LoRA and an
HF merged model round differently: on GPU, bf16 can flip a near-tie; on CPU, fp32, they agree).
"""

from __future__ import annotations

import random
import time

from maple import grid
from maple.io import provenance, versions, write_record
from maple.tasks.spec import EXTRACTIVE_QA, INSTRUCTION, MULTIPLE_CHOICE, SUMMARISATION

# open-ended kinds first: a finetuned model's label on a multiple-choice task can equal the base model's by right
PROBE_KINDS = (INSTRUCTION, SUMMARISATION, EXTRACTIVE_QA, MULTIPLE_CHOICE)
SAMPLE = 8
NEW_TOKENS = 16


def probe_task(tasks) -> str:
    """The task whose outputs the check samples: the configured task of the most open-ended kind
    (PROBE_KINDS), the first configured among equals."""
    from maple.tasks import get_task

    tasks = list(tasks)
    return min(tasks, key=lambda t: (PROBE_KINDS.index(get_task(t).kind), tasks.index(t)))


def sample_requests(records: list[dict], seed, n: int = SAMPLE, new_tokens: int = NEW_TOKENS) -> list[dict]:
    """n distinct prompts of the recorded ones (seeded, independent of file order), to be decoded to at
    most 2 x new_tokens (compared on new_tokens); the recorded output rides along."""
    by_prompt = {}
    for r in sorted(records, key=lambda r: (str(r.get("lang")), str(r.get("protocol")), str(r["id"]))):
        if not r.get("failed") and r.get("prompt"):
            by_prompt.setdefault(r["prompt"], r)
    keys = sorted(by_prompt)
    random.Random(f"{seed}|served-check").shuffle(keys)
    out, limit = [], 2 * new_tokens
    for prompt in keys[:n]:
        r = by_prompt[prompt]
        out.append({"id": r["id"], "lang": r.get("lang"), "protocol": r.get("protocol"), "task": r.get("task"),
                    "prompt": prompt, "max_new_tokens": min(int(r.get("max_new_tokens") or limit), limit),
                    "stop": r.get("stop") or [], "recorded": r.get("output", "")})
    return out


def head(tokenizer, text: str, n: int = NEW_TOKENS) -> str:
    """The text of an output's first n tokens."""
    return tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:n])


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
            return False, f"LoRA-served outputs equal the merged adapter's on {equal} of {n} sampled prompts"
    return True, "ok"


def _decode(backend, reqs: list[dict]) -> list[str]:
    from maple.generate.run import generate_unique

    return generate_unique(backend, reqs)


def check_cell(cell_id: str, mode: str, model_cfg: dict, records: list[dict], settings: dict, out_file: str,
               adapter_dir: str | None = None, base_records: list[dict] | None = None, sample: int = SAMPLE,
               new_tokens: int = NEW_TOKENS) -> dict:
    """Compare the sampled recorded outputs with the base model's (base_records when the grid has the
    base cell, else decoded) and, in multi_lora, with the adapter merged in memory; write the
    per-prompt outputs and the verdict to out_file."""
    import gc

    from maple.generate.backends import make_backend
    from maple.generate.served import served_as
    from maple.models import load_tokenizer

    started = time.time()
    cell = grid.parse_cell(cell_id)
    multi_lora = mode == "multi_lora"
    if multi_lora and not adapter_dir:
        raise ValueError(f"{cell_id}: multi_lora mode needs the adapter directory")
    tokenizer = load_tokenizer(model_cfg["path"], model_cfg.get("revision"), settings["trust_remote_code"])
    reqs = sample_requests(records, settings["seed"], sample, new_tokens)
    engines = []
    recorded_base = {}
    if base_records is not None:
        for r in base_records:
            if not r.get("failed"):
                recorded_base.setdefault(r["prompt"], r.get("output", ""))
    missing = [r for r in reqs if r["prompt"] not in recorded_base]
    decoded_base = {}
    if missing:  # no base cell in the grid (or it did not record these prompts): decode them
        from maple.generate.run import _backend

        backend = _backend(settings, model_cfg, model_cfg["path"])
        engines.append(backend.name)
        decoded_base = dict(zip((r["prompt"] for r in missing), _decode(backend, missing)))
        del backend
        gc.collect()  # one model at a time
    base = [recorded_base.get(r["prompt"], decoded_base.get(r["prompt"])) for r in reqs]
    merged = None
    if multi_lora:
        from maple.train.merge import merged_model

        # merged into the base it was served on: multi_lora serves every adapter on the 16-bit base
        # (on CPU a 4/8-bit cell too, maple.grid.lora_servable), not on its training quantisation
        model = merged_model(model_cfg["path"], adapter_dir, 16, settings["device"], model_cfg.get("revision"),
                             settings["trust_remote_code"])
        backend = make_backend("hf", model_cfg["path"], device=settings["device"], seed=settings["seed"],
                               trust_remote_code=settings["trust_remote_code"], revision=model_cfg.get("revision"),
                               model=model)
        engines.append("hf (adapter merged in memory)")
        merged = _decode(backend, reqs)
        del backend, model
        gc.collect()
    rows = [
        {"id": r["id"], "lang": r["lang"], "protocol": r["protocol"], "prompt": r["prompt"],
         "base": head(tokenizer, b, new_tokens), "served": head(tokenizer, r["recorded"], new_tokens),
         "merged": head(tokenizer, m, new_tokens) if multi_lora else None,
         "base_from": "base cell's recorded output" if r["prompt"] in recorded_base else "decoded",
         "recorded_differs_from_base": r["recorded"] != b}
        for r, b, m in zip(reqs, base, merged or [None] * len(reqs))
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
        "base_recorded": sum(r["base_from"] != "decoded" for r in rows),
        "passed": passed,
        "reason": reason,
        "rows": rows,
        "decoded_with": engines,  # [] = no model loaded: every comparison from recorded outputs
        "model_path": model_cfg["path"],
        "adapter": adapter_dir,
        "seconds": time.time() - started,
        "versions": versions(),
        **provenance(),
    }
    write_record(out_file, record)
    return record


def check_group(cells: list[tuple[str, list[dict], str]], model_cfg: dict, settings: dict, out_dir: str,
                base_records: list[dict] | None = None, sample: int = SAMPLE) -> list[dict]:
    """A multi_lora group's checks in one job: (cell id, its recorded records, its adapter directory)
    each checked as check_cell does, into out_dir (paths.group_served_check_file); the imports that
    cost more than a tiny cell's check are paid once. Each adapter is merged into a fresh load of the
    base, so a cell's check does not depend on the others in its group."""
    from pathlib import Path

    from maple import paths
    from maple.io import atomic_dir

    checks = []
    with atomic_dir(out_dir) as tmp:
        for cell_id, records, adapter_dir in cells:
            out = Path(paths.group_served_check_file(str(tmp), grid.parse_cell(cell_id)))
            out.parent.mkdir(parents=True, exist_ok=True)
            checks.append(check_cell(cell_id, "multi_lora", model_cfg, records, settings, str(out),
                                     adapter_dir=adapter_dir, base_records=base_records, sample=sample))
    return checks
