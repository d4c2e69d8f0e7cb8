"""Shared pieces of the report: the tidy-table columns, headline metrics, names, config selection."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maple.tasks.specs import TASKS as REGISTRY

# The tidy table (docs/interfaces.md): the score rows plus `source`; `reference` cites published rows.
# `published` is `source == "published"` as a boolean; `unit` says how to read `value` (and its
# interval): "fraction" (0..1) or "percent" (win rates); stderr/ci_* are empty on published rows.
COLUMNS = [
    "cell", "model", "dataset", "rank", "bits", "task", "language", "protocol", "metric", "value",
    "stderr", "ci_low", "ci_high", "unit", "n", "mode", "source", "published",
]
EXTRA_COLUMNS = ["reference", "served_as", "judge"]  # served_as: maple.generate.served; judge: AlpacaEval rows
TIDY_COLUMNS = COLUMNS + EXTRA_COLUMNS
PERCENT_METRICS = ("win_rate", "lc_win_rate")
INTERVAL_COLUMNS = ("stderr", "ci_low", "ci_high")


def unit_of(metric) -> str:
    return "percent" if str(metric) in PERCENT_METRICS else "fraction"

AVG_LANGUAGE = "avg"  # language of a published task-level average
AVERAGE_TASK = "average"  # task of a published across-task average (Table 1's last column)

# Headline metric (the one Table 1 / Table 2 report) and display label of each task: the registry's.
HEADLINE = {name: spec.headline_metric for name, spec in REGISTRY.items()}
TABLE1_TASKS = ["xnli", "xcopa", "xquad", "belebele", "mlqa", "xlsum"]
TASK_LABELS = {**{name: spec.display_label for name, spec in REGISTRY.items()}, "average": "average"}
METRIC_LABELS = {"accuracy": "accuracy", "f1": "F1", "rougeL": "ROUGE-L", "win_rate": "win rate %"}

# The paper's finetuned model per family, as named in published.csv (= the keys of config/paper.yaml).
PAPER_MODEL = {"llama": "llama-2-7b", "mistral": "mistral-7b"}
MODEL_LABELS = {
    "llama-2-7b": "Llama-2-7B", "mistral-7b": "Mistral-7B", "GPT-4": "GPT-4", "PaLM2": "PaLM2",
    "Llama-2-70B-chat": "Llama-2-70B-chat", "Mistral-7B-Instruct": "Mistral-7B-Instruct",
}
BASELINES = ["GPT-4", "Mistral-7B-Instruct", "Llama-2-70B-chat", "PaLM2"]  # Table 1's row order
DATASET_ORDER = ["multialpaca", "bactrian-x-22", "bactrian-x-11", "alpaca"]  # Table 1's order
TABLE2_DATASET_ORDER = ["alpaca", "bactrian-x-22", "bactrian-x-11", "multialpaca"]  # Table 2's order
DATASET_LABELS = {
    "alpaca": "Alpaca", "multialpaca": "MultiAlpaca", "bactrian-x-11": "Bactrian-X-11",
    "bactrian-x-22": "Bactrian-X-22", "none": "none",
}


def dataset_label(name) -> str:
    return DATASET_LABELS.get(name, str(name))


def model_label(name) -> str:
    return MODEL_LABELS.get(name, str(name))


def dataset_sort_key(name, order=None) -> tuple:
    order = order or DATASET_ORDER
    return (order.index(name) if name in order else len(order), str(name))


def paper_model(model: str, families: dict | None) -> str | None:
    """The paper's model row (published.csv name) for a measured model, by its config family."""
    family = (families or {}).get(model)
    if family is None:
        return None
    return PAPER_MODEL.get(str(family).lower())


def empty_tidy() -> pd.DataFrame:
    return normalise(pd.DataFrame(columns=TIDY_COLUMNS))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in tidy order with stable dtypes (nullable ints for rank/bits/n)."""
    df = df.copy()
    for col in TIDY_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df = df[TIDY_COLUMNS + [c for c in df.columns if c not in TIDY_COLUMNS]]
    for col in ("rank", "bits", "n"):
        df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in ("value",) + INTERVAL_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["unit"] = [u if isinstance(u, str) and u else unit_of(m) for u, m in zip(df["unit"], df["metric"])]
    df["published"] = (df["source"].astype("object") == "published").astype("bool")
    for col in ("cell", "model", "dataset", "task", "language", "protocol", "metric", "unit", "mode", "source",
                "reference", "served_as", "judge"):
        df[col] = df[col].astype("object").where(df[col].notna(), None)
        df[col] = df[col].map(lambda v: None if v is None else str(v)).astype("string")
    return df.reset_index(drop=True)


def measured(tidy: pd.DataFrame) -> pd.DataFrame:
    return tidy[tidy["source"] == "measured"]


def published(tidy: pd.DataFrame) -> pd.DataFrame:
    return tidy[tidy["source"] == "published"]


def headline_rows(tidy: pd.DataFrame, tasks=None, protocol: str | None = None) -> pd.DataFrame:
    """Rows carrying each task's headline metric (one protocol, or all if None)."""
    if tidy.empty:
        return tidy
    keep = pd.Series(False, index=tidy.index)
    for task, metric in HEADLINE.items():
        if tasks is not None and task not in tasks:
            continue
        keep |= (tidy["task"] == task) & (tidy["metric"] == metric)
    out = tidy[keep.fillna(False).astype(bool)]
    if protocol is not None:
        out = out[out["protocol"] == protocol]
    return out


CONFIG_KEYS = ["model", "dataset", "rank", "bits", "protocol"]


def task_scores(tidy: pd.DataFrame, protocol: str | None = None, tasks=None) -> pd.DataFrame:
    """Measured headline metric per config and task, averaged over languages.

    Columns: model, dataset, rank, bits, protocol, task, value, n_languages.
    """
    rows = headline_rows(measured(tidy), tasks=tasks, protocol=protocol)
    rows = rows[rows["value"].notna() & (rows["language"] != AVG_LANGUAGE)]
    cols = CONFIG_KEYS + ["task", "value", "n_languages"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    out = (
        rows.groupby(CONFIG_KEYS + ["task"], dropna=False, sort=True)["value"]
        .agg(value="mean", n_languages="count")
        .reset_index()
    )
    return out[cols]


def config_averages(scores: pd.DataFrame, tasks=TABLE1_TASKS) -> pd.DataFrame:
    """Average over tasks of `task_scores` rows per config; n_tasks = how many tasks it had."""
    cols = CONFIG_KEYS + ["average", "n_tasks"]
    sub = scores[scores["task"].isin(tasks)] if not scores.empty else scores
    if sub.empty:
        return pd.DataFrame(columns=cols)
    out = (
        sub.groupby(CONFIG_KEYS, dropna=False, sort=True)["value"]
        .agg(average="mean", n_tasks="count")
        .reset_index()
    )
    return out[cols]


def pick_best(frame: pd.DataFrame, value: str, by: list[str], prefer_complete: str | None = None) -> pd.DataFrame:
    """One row per `by` group: the largest `value` (ties: smaller rank, then fewer bits).

    With `prefer_complete` (a count column), rows with the group's largest count win first, so a
    config that lacks tasks is never chosen over one that has them all.
    """
    if frame.empty:
        return frame
    df = frame.copy()
    df["_rank"] = pd.to_numeric(df.get("rank"), errors="coerce").fillna(-1)
    df["_bits"] = pd.to_numeric(df.get("bits"), errors="coerce").fillna(-1)
    keys = ([prefer_complete] if prefer_complete else []) + [value, "_rank", "_bits"]
    asc = ([False] if prefer_complete else []) + [False, True, True]
    df = df.sort_values(keys, ascending=asc, kind="mergesort", na_position="last")
    best = df.groupby(by, dropna=False, sort=True).head(1)
    return best.drop(columns=["_rank", "_bits"]).sort_values(by, kind="mergesort").reset_index(drop=True)


MISSING_TEXT = "–"


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, (float, np.floating)) and np.isnan(value))
    except TypeError:
        return False


def fmt_number(value, digits: int = 2, missing: str = MISSING_TEXT) -> str:
    """The one number formatter of tables, HTML and figure labels: integers as integers, other
    numbers with `digits` decimals, booleans as yes/no, missing values as `missing`, text as is."""
    if is_missing(value):
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def fmt_interval(value, low, high, digits: int = 2) -> str:
    """'0.52 [0.41, 0.63]', or the value alone without an interval."""
    text = fmt_number(value, digits)
    if is_missing(value) or is_missing(low) or is_missing(high):
        return text
    return f"{text} [{fmt_number(low, digits)}, {fmt_number(high, digits)}]"
