"""Intervals of averages and paired tests of differences, from the per-example scores.

    averages(examples, bootstrap)     per cell and protocol: each task's average over languages and
                                      the average over Table 1's tasks (all languages, and English
                                      rows only), each with a stratified bootstrap interval (every
                                      language's examples resampled on their own)
    comparisons(examples, bootstrap)  the paper's comparisons as paired bootstraps over the same
                                      examples: each rank x bits cell against the best of its model
                                      and dataset (Fig. 1), each dataset's best cell against
                                      MultiAlpaca's (Table 1, Fig. 3), each finetuned cell against
                                      its base model (Fig. 5); p_holm adjusts p_value within each
                                      family (comparison kind x protocol x task x language)

`examples` maps a cell id to its per-example scores: {(protocol, task, language): Group(ids, values)}
with the task's headline metric (`load_examples` reads them from the score stage's
`{task}.examples.jsonl`). Cells scored on the same examples share one ids tuple, and values are
float arrays: the paper grid (~270k examples per cell and protocol, 122 cells) fits in ~0.5 GB.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import pandas as pd

from maple import grid, stats
from maple.io import read_jsonl
from maple.report import languages as L
from maple.grid import NO_DATASET
from maple.report.common import AVG_LANGUAGE, AVERAGE_TASK, HEADLINE, TABLE1_TASKS, pick_best, unit_of
from maple.score_cell import example_values

ENGLISH = "en"  # language of an English-rows-only average
AVERAGE_METRIC = "mean"  # metric of an across-task average (as in published.csv)
REFERENCE_DATASET = "multialpaca"  # what Table 1 and Fig. 3 compare every dataset against
AVERAGE_COLUMNS = ["cell", "model", "dataset", "rank", "bits", "protocol", "task", "language", "metric", "value",
                   "ci_low", "ci_high", "unit", "n", "n_languages", "n_tasks"]
COMPARISON_COLUMNS = ["comparison", "model", "protocol", "task", "language", "metric", "unit", "cell_a", "cell_b",
                      "value_a", "value_b", "difference", "ci_low", "ci_high", "p_value", "p_holm", "excludes_zero",
                      "n"]
# a family of tests for Holm's adjustment: one kind of comparison on one quantity under one protocol
FAMILY = ["comparison", "protocol", "task", "language"]
COMPARISON_KINDS = {
    "rank_bits_vs_best": "each rank x bits cell minus the best cell of its model and dataset (Fig. 1)",
    "dataset_vs_multialpaca": "each dataset's best cell minus MultiAlpaca's best cell, same model (Table 1, Fig. 3)",
    "finetuned_vs_base": "each finetuned cell minus its un-finetuned base model (Fig. 5)",
}


class Group(NamedTuple):
    """One cell's per-example headline values of a protocol x task x language, in `ids` order."""

    ids: tuple
    values: np.ndarray


def load_examples(files: list[str]) -> dict:
    """{cell: {(protocol, task, language): Group}} from `.examples.jsonl` files
    (results/scores/{cell}/{task}.examples.jsonl); absent files are skipped."""
    out: dict = defaultdict(dict)
    shared: dict = {}  # (protocol, task, language) -> the ids tuple cells share
    for path in files:
        if not os.path.exists(path):
            continue
        cell_id, task = _cell_task(path)
        metric = HEADLINE.get(task)
        if metric is None:
            continue
        by_group = defaultdict(list)
        for e in read_jsonl(path):
            by_group[(e.get("protocol", "reference"), e.get("lang", "en"))].append(e)
        for (protocol, lang), group in by_group.items():
            kept = [e for e in group if metric != "win_rate" or e["score"].get("win") is not None]
            values = example_values(kept, metric)
            if not values:
                continue
            seen: dict = defaultdict(int)
            ids = []
            for e in kept:
                key = str(e.get("id"))
                seen[key] += 1
                ids.append(key if seen[key] == 1 else f"{key}#{seen[key]}")  # a repeated id stays its own example
            ids = tuple(ids)
            group_key = (protocol, task, lang)
            if shared.get(group_key) == ids:
                ids = shared[group_key]
            else:
                shared.setdefault(group_key, ids)
            out[cell_id][group_key] = Group(ids, np.asarray(values, dtype="float64"))
    return dict(out)


def _cell_task(path: str) -> tuple[str, str]:
    """results/scores/{cell}/{task}.examples.jsonl -> (cell id, task), by the cell codec."""
    parts = os.path.normpath(path).split(os.sep)
    key = grid.parse_job("/".join(parts[-4:])[: -len(".examples.jsonl")])
    if key is None or key.cell is None or key.task is None:
        raise ValueError(f"{path}: not results/scores/{{cell}}/{{task}}.examples.jsonl")
    return key.cell.id, key.task


def _strata(groups: dict, protocol: str, tasks, english_only: bool = False) -> dict:
    """{task: {lang: values}} of one protocol, restricted to `tasks` (and English rows)."""
    out: dict = defaultdict(dict)
    for (p, task, lang), values in groups.items():
        if p != protocol or task not in tasks or (english_only and not L.is_english(lang)):
            continue
        out[task][lang] = values
    return dict(out)


def _weights(strata: dict) -> tuple[list, list]:
    """Keys and weights of an average over tasks of averages over languages."""
    keys, weights = [], []
    for task in sorted(strata):
        langs = sorted(strata[task])
        for lang in langs:
            keys.append((task, lang))
            weights.append(1.0 / (len(strata) * len(langs)))
    return keys, weights


def _average_row(cell_id, protocol, task, language, metric, strata, b) -> dict:
    keys, weights = _weights(strata)
    groups = [strata[t][lang].values for t, lang in keys]
    value, low, high = stats.weighted_interval(groups, weights, b["resamples"], b["seed"], b["confidence"])
    return {**grid.parse_cell(cell_id).fields, "protocol": protocol, "task": task, "language": language, "metric": metric,
            "value": value, "ci_low": low, "ci_high": high, "unit": unit_of(metric), "n": sum(len(g) for g in groups),
            "n_languages": len({lang for _, lang in keys}), "n_tasks": len(strata)}


def averages(examples: dict, bootstrap: dict) -> pd.DataFrame:
    """Averages over languages (per task) and over Table 1's tasks, with stratified intervals."""
    rows = []
    for cell_id in sorted(examples):
        groups = examples[cell_id]
        for protocol in sorted({p for p, _, _ in groups}):
            for task in sorted({t for p, t, _ in groups if p == protocol}):
                strata = _strata(groups, protocol, [task])
                rows.append(_average_row(cell_id, protocol, task, AVG_LANGUAGE, HEADLINE[task], strata, bootstrap))
            for language, english in ((AVG_LANGUAGE, False), (ENGLISH, True)):
                strata = _strata(groups, protocol, TABLE1_TASKS, english)
                if strata:
                    rows.append(_average_row(cell_id, protocol, AVERAGE_TASK, language, AVERAGE_METRIC, strata,
                                             bootstrap))
    out = pd.DataFrame(rows, columns=AVERAGE_COLUMNS)
    for col in ("rank", "bits", "n", "n_languages", "n_tasks"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    return out


def paired(examples: dict, cell_a: str, cell_b: str, protocol: str, tasks, english_only: bool,
           bootstrap: dict) -> dict | None:
    """Paired bootstrap of (a - b) on the examples both cells scored; None when they share none."""
    sa = _strata(examples.get(cell_a, {}), protocol, tasks, english_only)
    sb = _strata(examples.get(cell_b, {}), protocol, tasks, english_only)
    diffs: dict = defaultdict(dict)
    for task in set(sa) & set(sb):
        for lang in set(sa[task]) & set(sb[task]):
            d = _paired_values(sa[task][lang], sb[task][lang])
            if d.size:
                diffs[task][lang] = d
    if not diffs:
        return None
    keys, weights = _weights(diffs)
    groups = [diffs[t][lang] for t, lang in keys]
    result = stats.paired_difference(groups, weights, bootstrap["resamples"], bootstrap["seed"], bootstrap["confidence"])
    result["n"] = sum(len(g) for g in groups)
    return result


def _paired_values(a: Group, b: Group) -> np.ndarray:
    """a - b on the examples both scored (matched by id)."""
    if a.ids is b.ids or a.ids == b.ids:
        return a.values - b.values
    index_b = {k: i for i, k in enumerate(b.ids)}
    pairs = [(i, index_b[k]) for i, k in enumerate(a.ids) if k in index_b]
    if not pairs:
        return np.empty(0)
    ia, ib = np.array(pairs).T
    return a.values[ia] - b.values[ib]


def _targets(task_list) -> list[tuple[str, list[str], str, bool, str]]:
    """(task column, tasks averaged, language column, English only, metric) of each compared quantity."""
    out = [(t, [t], AVG_LANGUAGE, False, HEADLINE[t]) for t in task_list]
    out.append((AVERAGE_TASK, TABLE1_TASKS, AVG_LANGUAGE, False, AVERAGE_METRIC))
    return out


def best_cells(avg: pd.DataFrame) -> pd.DataFrame:
    """Per model, dataset and protocol: the finetuned cell with the best average over Table 1's tasks
    (complete cells first), as Table 1 and Fig. 1 choose it."""
    overall = avg[(avg["task"] == AVERAGE_TASK) & (avg["language"] == AVG_LANGUAGE) & (avg["dataset"] != NO_DATASET)]
    if overall.empty:
        return overall
    return pick_best(overall, "value", ["model", "dataset", "protocol"], prefer_complete="n_tasks")


def comparisons(examples: dict, bootstrap: dict, avg: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's comparisons, each a paired bootstrap; see COMPARISON_KINDS."""
    avg = averages(examples, bootstrap) if avg is None else avg
    value = {(r.cell, r.protocol, r.task, r.language): r.value for r in avg.itertuples(index=False)}
    rows = []

    def add(kind, a, b, protocol, task, tasks, language, english, metric):
        result = paired(examples, a, b, protocol, tasks, english, bootstrap)
        if result is None:
            return
        rows.append({"comparison": kind, "model": grid.parse_cell(a).model, "protocol": protocol, "task": task,
                     "language": language, "metric": metric, "unit": unit_of(metric), "cell_a": a, "cell_b": b,
                     "value_a": value.get((a, protocol, task, language)),
                     "value_b": value.get((b, protocol, task, language)), **result})

    best = best_cells(avg)
    finetuned = avg[(avg["dataset"] != NO_DATASET) & (avg["task"] == AVERAGE_TASK) & (avg["language"] == AVG_LANGUAGE)]
    for b in best.itertuples(index=False):
        same = finetuned[(finetuned["model"] == b.model) & (finetuned["dataset"] == b.dataset)
                         & (finetuned["protocol"] == b.protocol) & (finetuned["cell"] != b.cell)]
        for cell in sorted(same["cell"]):
            add("rank_bits_vs_best", cell, b.cell, b.protocol, AVERAGE_TASK, TABLE1_TASKS, AVG_LANGUAGE, False,
                AVERAGE_METRIC)
    for (model, protocol), sub in best.groupby(["model", "protocol"], sort=True):
        ref = sub[sub["dataset"] == REFERENCE_DATASET]
        if ref.empty:
            continue
        ref_cell = ref["cell"].iloc[0]
        for cell in sorted(sub[sub["dataset"] != REFERENCE_DATASET]["cell"]):
            for task, tasks, language, english, metric in _targets(TABLE1_TASKS):
                add("dataset_vs_multialpaca", cell, ref_cell, protocol, task, tasks, language, english, metric)
    for cell_id in sorted(examples):
        cell = grid.parse_cell(cell_id)
        base = grid.Cell(cell.model).id
        if cell.is_base or base not in examples:
            continue
        for protocol in sorted({p for p, _, _ in examples[cell_id]}):
            add("finetuned_vs_base", cell_id, base, protocol, AVERAGE_TASK, TABLE1_TASKS, ENGLISH, True,
                AVERAGE_METRIC)
            add("finetuned_vs_base", cell_id, base, protocol, AVERAGE_TASK, TABLE1_TASKS, AVG_LANGUAGE, False,
                AVERAGE_METRIC)
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if len(out):
        out["p_holm"] = out.groupby(FAMILY, dropna=False)["p_value"].transform(lambda p: stats.holm(p.to_numpy()))
    return out


def write_intervals(example_files: list[str], bootstrap: dict, out_averages: str, out_comparisons: str) -> tuple:
    """results/averages.csv and results/comparisons.csv from the per-example score files."""
    from maple.io import atomic_file

    examples = load_examples(example_files)
    avg = averages(examples, bootstrap)
    comp = comparisons(examples, bootstrap, avg)
    for frame, out in ((avg, out_averages), (comp, out_comparisons)):
        with atomic_file(out) as fh:
            frame.to_csv(fh, index=False)
    return avg, comp
