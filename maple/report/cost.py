"""Compute cost from Snakemake benchmark files: per job, per stage (rule) and per cell.

A benchmark file is `benchmarks/<rule>/<wildcards...>.tsv` (maple.paths.benchmark): a header
(`s  h:m:s  max_rss  max_vms  max_uss  max_pss  io_in  io_out  mean_load  cpu_time`, Snakemake 9 may
append more columns) and one line per repeat. Memory columns are MB, times seconds. GPU hours are
wall hours x the GPUs the rule declares (passed in: the benchmark does not record them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from maple import grid
from maple.io import atomic_file

JOB_COLUMNS = ["stage", "wildcards", "cell", "model", "dataset", "rank", "bits", "task", "repeats", "wall_h", "cpu_h",
               "gpus", "gpu_h", "max_rss_gb", "max_vms_gb", "io_in_gb", "io_out_gb", "mean_load"]
SUMMARY_COLUMNS = ["jobs", "wall_h", "cpu_h", "gpu_h", "max_rss_gb"]


def gpus_from_config(config: dict) -> dict:
    """rule -> GPUs one of its jobs holds, from maple.resources (the table the rules declare from)."""
    from maple import resources

    return {rule: resources.gpus(config, rule) for rule in resources.RULES}


def _cell_fields(wildcards: str) -> dict:
    """A job's cell (or multi_lora group, in `cell`) and task, by the cell codec (maple.grid)."""
    key = grid.parse_job(wildcards)
    if key is None:
        return {"cell": None, "model": None, "dataset": None, "rank": None, "bits": None, "task": None}
    if key.cell is None:  # a group job serves several cells: charged to the group
        return {"cell": key.group, "model": key.model, "dataset": None, "rank": key.rank, "bits": None,
                "task": key.task}
    return {**key.cell.fields, "task": key.task}


def read_benchmark(path: str) -> pd.DataFrame:
    """One benchmark TSV (all its repeats); 'NA' / '-' are missing values."""
    return pd.read_csv(path, sep="\t", na_values=["NA", "-", ""])


def job_costs(benchmark_dir: str = "benchmarks", gpus: dict | None = None) -> pd.DataFrame:
    """One row per benchmark file (mean over its repeats): wall/CPU/GPU hours and peak memory."""
    gpus = dict(gpus or {})
    rows = []
    root = Path(benchmark_dir)
    files = sorted(root.rglob("*.tsv")) if root.is_dir() else []
    for path in files:
        rel = path.relative_to(root)
        if len(rel.parts) < 2:
            continue  # not benchmarks/<rule>/...
        stage = rel.parts[0]
        wildcards = str(Path(*rel.parts[1:]).with_suffix("")).replace(os.sep, "/")
        try:
            df = read_benchmark(str(path))
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        if df.empty or "s" not in df.columns:
            continue
        num = df.apply(pd.to_numeric, errors="coerce")
        wall_s = float(num["s"].mean())
        cpu_s = float(num["cpu_time"].mean()) if "cpu_time" in num else float("nan")
        n_gpu = int(gpus.get(stage, 0) or 0)  # a rule maple does not know holds none
        rows.append({
            "stage": stage, "wildcards": wildcards, **_cell_fields(wildcards), "repeats": len(df),
            "wall_h": wall_s / 3600, "cpu_h": cpu_s / 3600, "gpus": n_gpu, "gpu_h": wall_s / 3600 * n_gpu,
            "max_rss_gb": _gb(num, "max_rss", "max"), "max_vms_gb": _gb(num, "max_vms", "max"),
            "io_in_gb": _gb(num, "io_in", "mean"), "io_out_gb": _gb(num, "io_out", "mean"),
            "mean_load": float(num["mean_load"].mean()) if "mean_load" in num else float("nan"),
        })
    out = pd.DataFrame(rows, columns=JOB_COLUMNS)
    for col in ("rank", "bits", "repeats", "gpus"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    return out


def _gb(num: pd.DataFrame, col: str, how: str) -> float:
    if col not in num:
        return float("nan")
    value = num[col].max() if how == "max" else num[col].mean()
    return float(value) / 1024 if pd.notna(value) else float("nan")


def _sum(values: pd.Series) -> float:
    """Sum that stays NaN when nothing was recorded (a benchmark of NA values)."""
    return values.sum(min_count=1)


def _summary(jobs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if jobs.empty:
        return pd.DataFrame(columns=by + SUMMARY_COLUMNS)
    out = (jobs.groupby(by, dropna=False, sort=True)
           .agg(jobs=("wall_h", "size"), wall_h=("wall_h", _sum), cpu_h=("cpu_h", _sum),
                gpu_h=("gpu_h", _sum), max_rss_gb=("max_rss_gb", "max"))
           .reset_index())
    return out[by + SUMMARY_COLUMNS]


def per_stage(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, summed wall/CPU/GPU hours, peak RSS; a last row `total`."""
    out = _summary(jobs, ["stage"])
    if not out.empty:
        total = {"stage": "total", "jobs": int(out["jobs"].sum()), "wall_h": _sum(out["wall_h"]),
                 "cpu_h": _sum(out["cpu_h"]), "gpu_h": _sum(out["gpu_h"]), "max_rss_gb": out["max_rss_gb"].max()}
        out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    return out


def per_cell(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per cell, all its jobs (training, merging, each task's generation, judging and scoring); a
    multi_lora group's jobs under the group's id; jobs of no cell (data, report) by stage:wildcards.
    With the stages that ran for it."""
    if jobs.empty:
        return pd.DataFrame(columns=["cell", "stages"] + SUMMARY_COLUMNS)
    j = jobs.copy()
    j["cell"] = j["cell"].where(j["cell"].notna(), j["stage"] + ":" + j["wildcards"])
    out = _summary(j, ["cell"])
    stages = j.groupby("cell")["stage"].apply(lambda s: ", ".join(sorted(set(s))))
    out.insert(1, "stages", out["cell"].map(stages))
    return out


def cost_tables(benchmark_dir: str = "benchmarks", gpus: dict | None = None, out_dir: str | None = None) -> dict:
    """{"jobs", "per_stage", "per_cell"} DataFrames; with out_dir also `cost_<name>.csv` there."""
    jobs = job_costs(benchmark_dir, gpus)
    tables = {"per_stage": per_stage(jobs), "per_cell": per_cell(jobs), "jobs": jobs}
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name, df in tables.items():
            with atomic_file(Path(out_dir) / f"cost_{name}.csv") as fh:
                df.to_csv(fh, index=False)
    return tables
