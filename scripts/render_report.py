"""Rule render_report: one self-contained HTML file with tables, figures, cost and config."""

from pathlib import Path

from maple.report.pipeline import write_report
from maple.rule_script import run


def main(smk):
    write_report(
        smk.output[0],
        str(Path(smk.input.tables[0]).parent),
        list(smk.input.figures),
        "benchmarks",
        smk.input.missing,
        smk.config,
        cost_dir=str(Path(smk.output[0]).parent),
        tidy_parquet=getattr(smk.input, "scores", None),
        comparisons_csv=smk.input.comparisons,
        served_checks=list(smk.input.served_checks),
    )


run(snakemake, main)  # noqa: F821
