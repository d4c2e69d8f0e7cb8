"""The whole config: prompt statistics per task x language x protocol from files of real rows,
training tokens per cell, and GPU-hours per stage from the measured throughputs in anchors.yaml."""

from __future__ import annotations

import glob
import math
import os
import statistics
from pathlib import Path

import yaml

from maple.plan import core
from maple.tasks.spec import TaskDataError

ANCHORS = Path(__file__).with_name("anchors.yaml")


def anchors() -> dict:
    return yaml.safe_load(ANCHORS.read_text(encoding="utf-8"))


def find_rows(data_dir: str, task: str, names: list[str]) -> str | None:
    for name in names:
        path = os.path.join(data_dir, task, f"{name}.jsonl")
        if os.path.isfile(path):
            return path
    return None


def file_languages(data_dir: str, task: str) -> list[str]:
    """Languages that have rows under data_dir/task ({split}.{lang}.jsonl or {split}.{lang}.{lang}.jsonl)."""
    langs = []
    for path in sorted(glob.glob(os.path.join(data_dir, task, "*.jsonl"))):
        parts = os.path.basename(path)[: -len(".jsonl")].split(".")
        if len(parts) == 3 and parts[1] == parts[2]:
            parts = parts[:2]
        if len(parts) == 2 and parts[1] not in langs and parts[1] != "eval":
            langs.append(parts[1])
    return langs


def _check_file_languages(data_dir: str, task: str, langs: list[str], protocols) -> None:
    """Rows files name their language with the workflow's codes (XL-Sum `thai`, not `th`)."""
    from maple.metrics.errors import ScoringInputError
    from maple.metrics.languages import check

    for lang in langs:
        for protocol in protocols:
            try:
                check(task, lang, protocol)
            except ScoringInputError as err:
                raise TaskDataError(f"--data-dir: {os.path.join(data_dir, task)}/*.{lang}.jsonl: {err}") from None


def task_rows(cfg: dict, model: str, budget, data_dir: str, data_languages: bool = True) -> list[dict]:
    """One plan row per task x language x protocol with rows under data_dir: the config's languages,
    and (data_languages) any other language the folder has rows for, with the config's request shapes.
    A protocol whose own split has no file uses the language's other file as a stand-in (marked)."""
    from maple.tasks import get_task

    out = []
    for task, task_cfg in cfg["evaluation"]["tasks"].items():
        spec = get_task(task)
        langs = list(task_cfg["languages"])
        if data_languages:
            extra = [lang for lang in file_languages(data_dir, task) if lang not in langs]
            _check_file_languages(data_dir, task, extra, cfg["evaluation"].get("protocols", ["megaverse"]))
            langs += extra
        for lang in langs:
            for protocol in cfg["evaluation"].get("protocols", ["megaverse", "reference"]):
                proto = spec.protocol(protocol)
                eval_split, shot_split = proto.lang_splits.get(lang, (proto.eval_split, proto.shot_split))
                config = (proto.config or spec.data_for(lang).config).format(lang=lang)
                eval_file = find_rows(data_dir, task, [f"{eval_split}.{lang}", f"{eval_split}.{lang}.{lang}",
                                                       f"sample.{lang}", f"{config}.{eval_split}"])
                stand_in = False
                if eval_file is None:
                    others = sorted(glob.glob(os.path.join(data_dir, task, f"*.{lang}.jsonl")) +
                                    glob.glob(os.path.join(data_dir, task, f"*.{lang}.{lang}.jsonl")))
                    if not others:
                        continue
                    eval_file, stand_in = others[-1], True
                shot_file = None
                if shot_split and not proto.shot_data:
                    shot_file = find_rows(data_dir, task, [f"{shot_split}.{lang}", f"{shot_split}.{lang}.{lang}"])
                    shot_file = None if shot_file == eval_file else shot_file
                requests, info = core.plan_requests(
                    task, lang, protocol, core.read_rows(eval_file, task), core.read_rows(shot_file, task)
                    if shot_file else None, task_cfg, cfg.get("prompt"), cfg["seed"], budget,
                )
                notes = [n for n, on in (("rows from another split", stand_in),
                                         ("shots from the evaluated rows", "stand-in" in info["shot_source"]),
                                         ("language not in config", lang not in task_cfg["languages"])) if on]
                out.append({"task": task, "lang": lang, "protocol": protocol, "eval_rows": eval_file,
                            "notes": "; ".join(notes),
                            "eval_rows_stand_in": stand_in, "lang_in_config": lang in task_cfg["languages"], **info,
                            **core.summarise(requests, budget.max_model_len, info["max_new_tokens"])})
    return out


def train_tokens_per_example(budget, prompt_cfg: dict, files: list[str]) -> tuple[float | None, int]:
    from maple.data.tokenise import tokenise_example

    tokenizer = budget.tokenizer
    if tokenizer.eos_token_id is None:
        return None, 0
    lengths = []
    for path in files:
        for row in core.read_rows(path, "--train-rows"):
            if "instruction" in row and "output" in row:
                lengths.append(len(tokenise_example(row, tokenizer, prompt_cfg)["input_ids"]))
    return (statistics.mean(lengths) if lengths else None), len(lengths)


def _rate(table: dict, bits: int, rank: int) -> float:
    """tokens/s at `rank`, log-linear between the measured ranks (8 and 128)."""
    by_rank = {int(k): float(v) for k, v in table[int(bits)].items()}
    lo, hi = min(by_rank), max(by_rank)
    r = min(max(rank, lo), hi)
    t = math.log(r / lo) / math.log(hi / lo)
    return by_rank[lo] * (by_rank[hi] / by_rank[lo]) ** t


def plan_config(cfg: dict, model: str, budget, data_dir: str, train_files: list[str]) -> dict:
    from maple import grid

    a = anchors()
    rows = task_rows(cfg, model, budget, data_dir)
    per_example, n_train = train_tokens_per_example(budget, cfg["prompt"], train_files)
    epochs = float(cfg.get("training", {}).get("num_train_epochs", 1))
    cells = []
    for cell in grid.training_cells(cfg):
        if cell.model != model:
            continue
        size = int(cfg["datasets"][cell.dataset]["size"])
        tokens = size * per_example * epochs if per_example else None
        rate = _rate(a["train_tokens_per_s"], cell.bits, cell.rank)
        cells.append({"cell": cell.id, "examples": size, "train_tokens": round(tokens) if tokens else None,
                      "train_tokens_per_s": round(rate), "train_gpu_hours": round(tokens / rate / 3600, 2) if tokens else None})

    # generation of one cell: every task x language x protocol of the config, at the split sizes,
    # each prompt at the mean measured length of its task x protocol (prefill) plus max_new_tokens
    # (decode, an upper bound: stop strings end most outputs early); no prefix-cache saving counted
    prefill_rate = a["matmul_tflops"] * 1e12 * a["prefill_mfu"] / a["prefill_flops_per_token"]
    measured = {}
    for r in rows:
        if r["requests"] and r["lang_in_config"] and not r["eval_rows_stand_in"]:
            measured.setdefault((r["task"], r["protocol"]), []).append(r["prompt_tokens_total"] / r["requests"])
    from maple.tasks import get_task

    prefill = decode = requests = 0
    unmeasured = []
    for task, task_cfg in cfg["evaluation"]["tasks"].items():
        seen = set()
        for protocol in cfg["evaluation"].get("protocols", ["megaverse", "reference"]):
            p = get_task(task).protocol(protocol)
            shape = (p.eval_split, p.shot_split, p.shots, p.shot_data, p.config, p.eval_limit, tuple(p.lang_splits.items()))
            if shape in seen:  # identical prompts across protocols are generated once
                continue
            seen.add(shape)
            lengths = measured.get((task, protocol)) or [x for (t, _), v in measured.items() if t == task for x in v]
            if (task, protocol) not in measured:
                # no rows of this protocol's split: the task's other protocol stands in, or nothing
                unmeasured.append(f"{task}/{protocol}" + (" (other protocol's lengths used)" if lengths else ""))
            if not lengths:
                continue
            mean_prompt = statistics.mean(lengths)
            split = a["split_rows"][task][protocol]
            max_new = next(r["max_new_tokens"] for r in rows if r["task"] == task)
            for lang in task_cfg["languages"]:
                n = split.get(lang, 0) if isinstance(split, dict) else split
                requests += n
                prefill += n * mean_prompt
                decode += n * max_new
    n_eval_cells = len([c for c in grid.eval_cells(cfg) if c.model == model])
    gen_hours = {k: round((prefill / prefill_rate + decode / a["decode_tokens_per_s"][k]) / 3600, 1)
                 for k in ("low", "high")}
    stages = []
    for bits in sorted({c.bits for c in grid.training_cells(cfg) if c.model == model}):
        sel = [c for c in cells if c["cell"].endswith(f"-b{bits}") and c["train_gpu_hours"] is not None]
        stages.append({"stage": f"train {bits}-bit", "jobs": len(sel),
                       "gpu_hours": round(sum(c["train_gpu_hours"] for c in sel), 1)})
    stages.append({"stage": "generate (per cell)", "jobs": 1,
                   "gpu_hours": f"{gen_hours['high']}-{gen_hours['low']}"})
    stages.append({"stage": "generate (all cells)", "jobs": n_eval_cells,
                   "gpu_hours": f"{round(gen_hours['high'] * n_eval_cells)}-{round(gen_hours['low'] * n_eval_cells)}"})
    return {
        "model": model,
        "max_model_len": budget.max_model_len,
        "rows": rows,
        "train_tokens_per_example": round(per_example, 1) if per_example else None,
        "train_examples_measured": n_train,
        "cells": cells,
        "generation_per_cell": {"requests": requests, "prefill_tokens": round(prefill), "decode_tokens_max": decode,
                                "gpu_hours_range": [gen_hours["high"], gen_hours["low"]], "unmeasured": unmeasured},
        "stages": stages,
        "over_limit": sum(r["over_limit"] for r in rows),
        "sources": {k: " ".join(str(v).split()) for k, v in a.items() if k.startswith("source")},
    }


def print_plan(result: dict, print_table, row_columns) -> None:
    print(f"# prompts: {result['model']}, max_model_len {result['max_model_len']}")
    print_table(result["rows"], (*row_columns, "notes"))
    print(f"\n# training: {result['train_tokens_per_example']} tokens per example "
          f"(measured on {result['train_examples_measured']} rows)")
    print_table(result["cells"], ("cell", "examples", "train_tokens", "train_tokens_per_s", "train_gpu_hours"))
    g = result["generation_per_cell"]
    print(f"\n# generation per cell: {g['requests']} requests, {g['prefill_tokens']} prompt tokens, "
          f"<= {g['decode_tokens_max']} new tokens; not measured here: {', '.join(g['unmeasured']) or 'none'}")
    print("\n# GPU-hours per stage (H100; sources in maple/plan/anchors.yaml)")
    print_table(result["stages"], ("stage", "jobs", "gpu_hours"))
