"""The report's context-budget table: per model, task, language and protocol, how many requests
lost shots, had their passage truncated, or could not be fitted at all (they score 0)."""

from __future__ import annotations

import pandas as pd

from maple.tasks.budget import BUDGET_METRICS

LABELS = {
    "budget_requests": "requests",
    "budget_fewer_shots": "fewer shots",
    "budget_truncated": "truncated",
    "budget_failed": "failed (scored 0)",
}


def budget_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per model x task x language x protocol; the counts are per cell (every cell of a model
    builds the same prompts with the same tokenizer), so the maximum over cells is shown."""
    rows = tidy[(tidy["source"] == "measured") & tidy["metric"].isin(BUDGET_METRICS)]
    keys = ["model", "task", "language", "protocol"]
    if rows.empty:
        return pd.DataFrame(columns=keys + list(LABELS.values()))
    wide = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="max").reset_index()
    for metric in BUDGET_METRICS:
        if metric not in wide.columns:
            wide[metric] = 0
    wide = wide[keys + list(BUDGET_METRICS)].rename(columns=LABELS)
    for col in LABELS.values():
        wide[col] = wide[col].fillna(0).astype(int)
    return wide.sort_values(keys).reset_index(drop=True)
