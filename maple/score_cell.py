"""Score one cell's raw outputs of one task (all its languages and protocols) into metric rows."""

from __future__ import annotations

import os
from collections import defaultdict

from maple import grid, paths
from maple.io import atomic_file, provenance, read_jsonl, write_jsonl
from maple.tasks import get_task
from maple.tasks.budget import budget_counts


def raw_records(cell_id: str, task: str, raw_inputs: list[str], mode: str) -> list[dict]:
    """A cell's raw output records of one task, from its own file, its multi_lora group dir (a base
    cell's too in multi_lora: `mode` is the cell's maple.grid.serving_mode) or its task group's dir."""
    cell = grid.parse_cell(cell_id)
    if mode == "multi_lora" or (len(raw_inputs) == 1 and os.path.isdir(raw_inputs[0])):
        return read_jsonl(paths.group_member_file(raw_inputs[0], cell, task))
    matches = [p for p in raw_inputs if os.path.basename(p) == f"{task}.jsonl"]
    return read_jsonl(matches[0])


def metric_rows(cell_id: str, task: str, lang: str, protocol: str, summary: dict, mode: str,
                served_as: str | None = None, judge: str | None = None,
                per_example: list[dict] | None = None, bootstrap: dict | None = None) -> list[dict]:
    """One row per metric of the summary, each with its stderr and bootstrap interval over examples
    (None where the metric has no per-example values, e.g. the length-controlled win rate)."""
    cell = grid.parse_cell(cell_id)
    rows = []
    for metric, value in summary.items():
        if metric == "n" or not (value is None or isinstance(value, (int, float))):
            continue
        row = {
            **cell.fields,
            "task": task,
            "language": lang,
            "protocol": protocol,
            "metric": metric,
            "value": value,
            "n": summary.get("n"),
            "mode": mode,
            "served_as": served_as,
            "judge": judge,  # AlpacaEval: the judge that produced the judgements
            **uncertainty(example_values(per_example or [], metric), value, bootstrap),
            **provenance(),
        }
        rows.append(row)
    return rows


def example_values(per_example: list[dict], metric: str) -> list[float]:
    """The per-example scores whose mean is `metric` (win rates: each instruction's share x 100)."""
    if metric == "win_rate":
        return [100.0 * e["score"]["win"] for e in per_example if e["score"].get("win") is not None]
    values = [e["score"].get(metric) for e in per_example]
    return [float(v) for v in values] if values and all(isinstance(v, (int, float)) for v in values) else []


def uncertainty(values: list[float], value, bootstrap: dict | None) -> dict:
    """stderr (lm-eval's mean_stderr) and the seeded percentile bootstrap interval of the mean."""
    from maple import stats

    out = {"stderr": None, "ci_low": None, "ci_high": None}
    if not values or value is None:
        return out
    b = dict(bootstrap or {})
    out["stderr"] = stats.stderr(values)
    out["ci_low"], out["ci_high"] = stats.interval(
        values, b.get("resamples", stats.RESAMPLES), b.get("seed", 0), b.get("confidence", stats.CONFIDENCE)
    )
    return out


def loglik_hits(records: list[dict]) -> list[float]:
    """Per example: 1 when the choice of highest log-likelihood is the gold one (lm-eval style);
    a request that could not fit its context (failed) has no log-probs and counts as wrong."""
    return [
        0.0 if r.get("failed")
        else float(max(range(len(r["choice_logprobs"])), key=r["choice_logprobs"].__getitem__) == r["gold"])
        for r in records
    ]


def bootstrap_settings(config: dict | None) -> dict:
    """Resamples, confidence and seed of every interval (config `statistics`, top-level `seed`)."""
    from maple import stats

    config = config or {}
    b = dict(config.get("statistics") or {})
    return {"resamples": int(b.get("resamples", stats.RESAMPLES)), "confidence": float(b.get("confidence", stats.CONFIDENCE)),
            "seed": int(config.get("seed", 0))}


def score_task(cell_id: str, task: str, records: list[dict], mode: str, options=None, served_as=None,
               bootstrap: dict | None = None):
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
            hits = loglik_hits(group)
            summary["accuracy_loglik"] = sum(hits) / len(hits)
            for e, hit in zip(per_example, hits):
                e["score"]["accuracy_loglik"] = hit
        judge = next((r["judge"] for r in group if r.get("judge")), None) if get_task(task).judged else None
        if any("shots_used" in r for r in group):
            # how many requests lost shots, were truncated or failed to fit (maple.tasks.budget)
            summary.update(budget_counts(group))
        rows += metric_rows(cell_id, task, lang, protocol, summary, mode, served_as, judge, per_example, bootstrap)
        examples += [{"lang": lang, "protocol": protocol, **e} for e in per_example]
    return rows, examples


def score_cell(cell_id, task, raw_inputs, judgements_file, score_file, example_file, settings, mode,
               bootstrap: dict | None = None) -> None:
    """One cell x task (one score_outputs job): its raw outputs, or for a judged task its judgements,
    into `score_file` (metric rows) and `example_file` (per-example scores)."""
    import json

    from maple.generate.served import served_as

    cell = grid.parse_cell(cell_id)
    backend = settings["evaluation"]["backend"]
    mode_label = f"{backend}/{'base' if cell.is_base else mode}"
    served = served_as(cell, mode)  # as the generation record says (maple.generate.run)
    if get_task(task).judged:
        if os.path.isdir(judgements_file):  # multi_lora: the group's judge job wrote a directory
            judgements_file = paths.group_member_file(judgements_file, cell, "judgements")
        records = read_jsonl(judgements_file)
    else:
        records = raw_records(cell_id, task, raw_inputs, mode)
    rows, examples = score_task(cell_id, task, records, mode_label, settings.get("scoring"), served_as=served,
                                bootstrap=bootstrap)
    write_jsonl(example_file, examples)
    with atomic_file(score_file) as fh:
        json.dump(rows, fh, indent=1, ensure_ascii=False)
