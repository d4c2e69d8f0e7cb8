"""One call per report rule: thin wrappers that read the tidy table and the config, then write.

These are what `scripts/*.py` (or `run:` blocks) call; each is also usable from a notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from maple.paths import TABLE_NAMES


def write_tables(tidy_parquet: str, config: dict, out_dir: str) -> dict:
    """Table 1 and Table 2 as CSV + Markdown in out_dir; returns {name: path}."""
    from maple.report.tables import families_from_config, table1, table2

    tidy = pd.read_parquet(tidy_parquet)
    families = families_from_config(config)
    protocols = (config.get("evaluation") or {}).get("protocols")
    out = Path(out_dir)
    paths = {name: str(out / name) for name in TABLE_NAMES}
    table1(tidy, families, paths["table1.csv"], paths["table1.md"], protocols=protocols)
    table2(tidy, families, paths["table2.csv"], paths["table2.md"], protocols=protocols)
    return paths


def write_report(out_html: str, table_dir: str, figure_pngs: list[str], benchmark_dir: str, missing_json: str,
                 config: dict, cost_dir: str | None = None, tidy_parquet: str | None = None) -> str:
    """The HTML report from the written tables, figures, benchmark files and missing-cells JSON
    (and, given the tidy table, the context-budget counts)."""
    from maple.report.cost import cost_tables, gpus_from_config
    from maple.report.html import render_report

    tables = {
        "Table 1: task scores, best rank x bits": str(Path(table_dir) / "table1.md"),
        "Table 2: best AlpacaEval win rate": str(Path(table_dir) / "table2.md"),
    }
    if tidy_parquet and Path(tidy_parquet).exists():
        from maple.report.budget import budget_table

        tables["Context budget: requests that lost shots, were truncated or could not fit (scored 0)"] = budget_table(
            pd.read_parquet(tidy_parquet)
        )
    cost = cost_tables(benchmark_dir, gpus_from_config(config), out_dir=cost_dir)
    missing = json.loads(Path(missing_json).read_text(encoding="utf-8")) if Path(missing_json).exists() else None
    return render_report(out_html, tables, figure_pngs, {"per stage": cost["per_stage"], "per cell": cost["per_cell"]},
                         config, missing)
