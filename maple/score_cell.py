"""Score one cell's raw outputs (all tasks, languages, protocols) into metric rows."""

from __future__ import annotations

import os
from collections import defaultdict

from maple import grid, paths
from maple.io import atomic_file, read_jsonl, write_jsonl
from maple.tasks.budget import budget_counts


def raw_records(cell_id: str, task: str, raw_inputs: list[str], mode: str) -> list[dict]:
    """A cell's raw output records of one task, from its own file or its multi_lora group dir."""
    cell = grid.parse_cell(cell_id)
    if mode == "multi_lora" and not cell.is_base:
        return read_jsonl(paths.group_member_file(raw_inputs[0], cell, task))
    matches = [p for p in raw_inputs if os.path.basename(p) == f"{task}.jsonl"]
    return read_jsonl(matches[0])


def metric_rows(cell_id: str, task: str, lang: str, protocol: str, summary: dict, mode: str,
                served_as: str | None = None, judge: str | None = None) -> list[dict]:
    cell = grid.parse_cell(cell_id)
    return [
        {
            "model": cell.model,
            "dataset": cell.dataset,
            "rank": cell.rank,
            "bits": cell.bits,
            "task": task,
            "language": lang,
            "protocol": protocol,
            "metric": metric,
            "value": value,
            "n": summary.get("n"),
            "mode": mode,
            "served_as": served_as,
            "judge": judge,  # AlpacaEval: the judge that produced the judgements
        }
        for metric, value in summary.items()
        if metric != "n" and (value is None or isinstance(value, (int, float)))
    ]


def loglik_accuracy(records: list[dict]) -> float:
    """Accuracy when the prediction is the choice of highest log-likelihood (lm-eval style)."""
    # a request that could not fit its context (failed) has no log-probs and counts as wrong
    hits = [
        not r.get("failed") and max(range(len(r["choice_logprobs"])), key=r["choice_logprobs"].__getitem__) == r["gold"]
        for r in records
    ]
    return sum(hits) / len(hits)


def score_task(cell_id: str, task: str, records: list[dict], mode: str, options=None, served_as=None):
    """Rows and per-example scores of one task, grouped by language and protocol."""
    from maple.metrics import score_records

    groups = defaultdict(list)
    for record in records:
        groups[(record.get("lang", "en"), record.get("protocol", "reference"))].append(record)
    rows, examples = [], []
    for (lang, protocol), group in sorted(groups.items()):
        summary, per_example = score_records(task, lang, protocol, group, options)
        if group and all("choice_logprobs" in r or r.get("failed") for r in group) and not all(
            r.get("failed") for r in group
        ):
            summary["accuracy_loglik"] = loglik_accuracy(group)
        judge = next((r["judge"] for r in group if r.get("judge")), None) if task == "alpaca_eval" else None
        if any("shots_used" in r for r in group):
            # how many requests lost shots, were truncated or failed to fit (maple.tasks.budget)
            summary.update(budget_counts(group))
        rows += metric_rows(cell_id, task, lang, protocol, summary, mode, served_as, judge)
        examples += [{"lang": lang, "protocol": protocol, **e} for e in per_example]
    return rows, examples


def score_cell(cell_id, tasks, raw_inputs, judgements_file, score_files, example_files, settings, mode) -> None:
    import json

    cell = grid.parse_cell(cell_id)
    backend = settings["evaluation"]["backend"]
    mode_label = f"{backend}/{'base' if cell.is_base else mode}"
    from maple.generate.served import served_as

    served = served_as(cell, mode)  # as the generation record says (maple.generate.run)
    for task, score_file, example_file in zip(tasks, score_files, example_files):
        if task == "alpaca_eval":
            if os.path.isdir(judgements_file):  # multi_lora: the group's judge job wrote a directory
                judgements_file = paths.group_member_file(judgements_file, cell, "judgements")
            records = read_jsonl(judgements_file)
        else:
            records = raw_records(cell_id, task, raw_inputs, mode)
        rows, examples = score_task(cell_id, task, records, mode_label, settings.get("scoring"), served_as=served)
        write_jsonl(example_file, examples)
        with atomic_file(score_file) as fh:
            json.dump(rows, fh, indent=1, ensure_ascii=False)
