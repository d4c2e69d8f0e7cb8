"""One call per report rule: thin wrappers that read the tidy table and the config, then write.

These are what `scripts/*.py` (or `run:` blocks) call; each is also usable from a notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from maple.paths import TABLE_NAMES


def read_averages(path: str | None) -> pd.DataFrame | None:
    """results/averages.csv (intervals of averages), or None when absent."""
    if not path or not Path(path).exists():
        return None
    return pd.read_csv(path, keep_default_na=True)


def write_tables(tidy_parquet: str, config: dict, out_dir: str, averages_csv: str | None = None) -> dict:
    """Table 1, Table 2 (CSV + Markdown) and the reproduction check (CSV) in out_dir; returns {name: path}."""
    from maple.report.tables import families_from_config, reproduction, table1, table2

    tidy = pd.read_parquet(tidy_parquet)
    averages = read_averages(averages_csv)
    families = families_from_config(config)
    protocols = (config.get("evaluation") or {}).get("protocols")
    out = Path(out_dir)
    paths = {name: str(out / name) for name in TABLE_NAMES}
    t1 = table1(tidy, families, paths["table1.csv"], paths["table1.md"], protocols=protocols, averages=averages)
    t2 = table2(tidy, families, paths["table2.csv"], paths["table2.md"], protocols=protocols, averages=averages)
    reproduction(t1, t2, paths["reproduction.csv"])
    return paths


PATH_PROOF_NOTE = (
    "This run uses models the workflow builds itself (the embedded default: tiny models, a few examples per "
    "language), so this section only proves the path from outputs to the check; whether a published value "
    "falls inside a measured interval means nothing about the paper here."
)


def is_path_proof(config: dict) -> bool:
    """True when the evaluated models are the tiny ones the workflow builds (`models.<name>.build`)."""
    return any((spec or {}).get("build") for spec in (config.get("models") or {}).values())


def report_tables(table_dir: str, config: dict) -> dict:
    """Section name -> [(heading, note, display frame)] from the tables' CSVs (no Markdown read back);
    an absent CSV stays a path, which the report lists as not produced."""
    from maple.report.tables import TITLES, display_frame, protocol_blocks, table_note

    out = {}
    for key, name in (("table1", "table1.csv"), ("table2", "table2.csv"), ("reproduction", "reproduction.csv")):
        path = Path(table_dir) / name
        title, note = TITLES[key]
        if not path.exists():
            out[title] = str(path)
            continue
        frame = pd.read_csv(path)
        if key == "reproduction" and is_path_proof(config):
            note = f"{note} {PATH_PROOF_NOTE}"
        blocks = [(f"protocol: {p}", table_note(key, p) if key in ("table1", "table2") else note, display_frame(block))
                  for i, (p, block) in enumerate(protocol_blocks(frame))]
        out[title] = blocks or [("", note, frame)]
    return out


COMPARISONS_TITLE = "Differences tested (paired bootstrap)"
COMPARISON_VIEW = ["comparison", "protocol", "cell_a", "cell_b", "task", "language", "value_a", "value_b",
                   "difference", "ci_low", "ci_high", "p_value", "p_holm", "excludes_zero", "n"]


def comparison_blocks(comparisons_csv: str | None) -> list:
    """[(heading, note, frame)] of results/comparisons.csv, one block per kind of comparison."""
    from maple.report.intervals import COMPARISON_KINDS

    if not comparisons_csv or not Path(comparisons_csv).exists():
        return []
    comp = pd.read_csv(comparisons_csv)
    return [(kind, f"{note}; a - b over the examples both scored, 95% interval, two-sided p-value.",
             comp[comp["comparison"] == kind][COMPARISON_VIEW[1:]])
            for kind, note in COMPARISON_KINDS.items() if (comp["comparison"] == kind).any()]


def write_report(out_html: str, table_dir: str, figure_pngs: list[str], benchmark_dir: str, missing_json: str,
                 config: dict, cost_dir: str | None = None, comparisons_csv: str | None = None,
                 tidy_parquet: str | None = None, served_checks: list[str] | None = None) -> str:
    """The HTML report from the written tables, comparisons, figures, benchmark files and missing-cells
    JSON (and, given the tidy table, the context-budget counts; given served_checks, the served-model
    check, first when a cell failed it)."""
    from maple.report.cost import cost_tables, gpus_from_config
    from maple.report.html import render_report

    tables = report_tables(table_dir, config)
    blocks = comparison_blocks(comparisons_csv)
    if blocks:
        tables[COMPARISONS_TITLE] = blocks
    if tidy_parquet and Path(tidy_parquet).exists():
        from maple.report.budget import budget_table

        tables["Context budget: requests that lost shots, were truncated or could not fit (scored 0)"] = budget_table(
            pd.read_parquet(tidy_parquet)
        )
    if served_checks is not None:
        from maple.report.served import TITLE, served_check_blocks

        blocks, failed = served_check_blocks(served_checks)
        tables = {TITLE: blocks, **tables} if failed else {**tables, TITLE: blocks}
    cost = cost_tables(benchmark_dir, gpus_from_config(config), out_dir=cost_dir)
    missing = json.loads(Path(missing_json).read_text(encoding="utf-8")) if Path(missing_json).exists() else None
    return render_report(out_html, tables, figure_pngs, {"per stage": cost["per_stage"], "per cell": cost["per_cell"]},
                         config, missing)
