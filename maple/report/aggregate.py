"""The tidy table: every measured score row plus the published numbers, one parquet + one CSV.

    import pandas as pd
    scores = pd.read_parquet("results/scores.parquet")
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from maple import grid
from maple.io import atomic_file
from maple.report.common import COLUMNS, TIDY_COLUMNS, empty_tidy, normalise

PUBLISHED_CSV = Path(__file__).with_name("published.csv")
REQUIRED_KEYS = ("model", "dataset", "task", "language", "protocol", "metric", "value")


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """MAPLE Tables 1-2 and the off-the-shelf baselines, in tidy-table columns (source='published')."""
    df = pd.read_csv(path or PUBLISHED_CSV, dtype={"rank": "Int64", "bits": "Int64", "n": "Int64"},
                     keep_default_na=False, na_values={"rank": [""], "bits": [""], "n": [""], "value": ["", "n/a"]})
    df["source"] = "published"
    return normalise(df)


def cell_id(entry: dict) -> str:
    """Cell id of an expected-cell dict ({"cell"} or {"model", "dataset", "rank", "bits"})."""
    if entry.get("cell"):
        return str(entry["cell"])
    return grid.cell_of(entry["model"], entry.get("dataset"), entry.get("rank"), entry.get("bits"))


def expected_path(entry: dict) -> str:
    if entry.get("path"):
        return str(entry["path"])
    from maple import paths

    return paths.fill(paths.SCORES, cell=cell_id(entry), task=entry["task"])


def expected_scores(config: dict) -> list[dict]:
    """Every score file the config's grid should produce: {cell, model, dataset, rank, bits, task, path}."""
    from maple import paths

    out = []
    for cell in grid.eval_cells(config):
        for task in grid.tasks(config):
            path = paths.scores_file(cell, task)
            out.append({**cell.fields, "task": task, "path": path})
    return out


def read_score_file(path: str) -> list[dict]:
    """Rows of one score file; raises ValueError when it is not a JSON list of rows."""
    with open(path, encoding="utf-8") as fh:
        rows = json.load(fh)
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of score rows, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {i} is not an object")
        absent = [k for k in REQUIRED_KEYS if k not in row]
        if absent:
            raise ValueError(f"{path}: row {i} lacks {', '.join(absent)}")
    return rows


def _norm(path) -> str:
    return os.path.normpath(str(path))


def aggregate_scores(
    score_files: list[str],
    expected_cells: list[dict],
    out_parquet: str,
    out_csv: str,
    missing_out: str,
    published_csv: str | None = None,
) -> pd.DataFrame:
    """Concatenate the score rows that exist, append the published rows, write parquet + CSV.

    score_files     score JSON paths (absent ones are skipped, never an error)
    expected_cells  one dict per expected score file: {"model", "dataset", "rank", "bits", "task"}
                    (or {"cell", "task"}), optionally "path"; see `expected_scores(config)`
    missing_out     JSON: the expected cells/tasks without scores, and why
    """
    rows, problems, read = [], {}, set()
    for path in sorted({_norm(p) for p in score_files}):
        if not os.path.exists(path):
            problems[path] = "no score file"
            continue
        try:
            file_rows = read_score_file(path)
        except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            problems[path] = f"unreadable: {err}"
            continue
        if not file_rows:
            problems[path] = "no score rows"
            continue
        rows += file_rows
        read.add(path)

    measured = pd.DataFrame(rows) if rows else pd.DataFrame(columns=COLUMNS)
    measured["source"] = "measured"
    measured["reference"] = None
    if len(measured):  # score files written before rows named their cell
        given = measured["cell"] if "cell" in measured.columns else pd.Series(None, index=measured.index)
        measured["cell"] = [c if isinstance(c, str) and c else cell_id(r)
                            for c, r in zip(given, measured.to_dict("records"))]
    measured = normalise(measured[[c for c in measured.columns if c in TIDY_COLUMNS]])
    published = load_published(published_csv)
    parts = [p for p in (measured, published) if not p.empty]
    tidy = normalise(pd.concat(parts, ignore_index=True)) if parts else empty_tidy()
    tidy = tidy.sort_values(
        ["source", "model", "dataset", "rank", "bits", "task", "protocol", "language", "metric"],
        kind="mergesort", na_position="first",
    ).reset_index(drop=True)

    missing = _missing_report(expected_cells, read, problems)
    missing["n_rows"] = {"measured": int(len(measured)), "published": int(len(published))}

    with atomic_file(out_parquet, "wb") as fh:
        tidy.to_parquet(fh, index=False)
    with atomic_file(out_csv) as fh:
        tidy.to_csv(fh, index=False)
    with atomic_file(missing_out) as fh:
        fh.write(json.dumps(missing, indent=1) + "\n")
    return tidy


def _missing_report(expected_cells: list[dict], read: set, problems: dict) -> dict:
    missing, by_cell = [], {}
    expected_paths = set()
    for entry in expected_cells:
        cell = cell_id(entry)
        path = _norm(expected_path(entry))
        expected_paths.add(path)
        by_cell.setdefault(cell, {"tasks": [], "missing": []})
        by_cell[cell]["tasks"].append(entry.get("task"))
        if path in read:
            continue
        reason = problems.get(path, "no score file")
        missing.append({"cell": cell, "task": entry.get("task"), "path": path, "reason": reason})
        by_cell[cell]["missing"].append(entry.get("task"))
    missing_cells = sorted(c for c, v in by_cell.items() if v["missing"] and len(v["missing"]) == len(v["tasks"]))
    partial = {c: sorted(v["missing"]) for c, v in sorted(by_cell.items())
               if v["missing"] and len(v["missing"]) < len(v["tasks"])}
    return {
        "n_expected": len(expected_cells),
        "n_present": len(expected_cells) - len(missing),
        "n_missing": len(missing),
        "missing_cells": missing_cells,  # every task of the cell lacks scores
        "partial_cells": partial,  # cell -> the tasks without scores
        "missing": missing,  # one entry per expected score file without scores
        "unexpected_files": sorted(read - expected_paths),  # read and included, though not expected
    }
