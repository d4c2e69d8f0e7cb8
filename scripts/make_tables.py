"""Rule make_tables: MAPLE Tables 1 and 2 (CSV + Markdown), measured beside published."""

from pathlib import Path

from maple.report.pipeline import write_tables
from maple.rule_script import run


def main(smk):
    write_tables(smk.input.tidy, smk.config, str(Path(smk.output[0]).parent), smk.input.averages)


run(snakemake, main)  # noqa: F821
