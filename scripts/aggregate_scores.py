"""Rule aggregate_scores: every cell's score rows + the published numbers -> one tidy table."""

from maple.report.aggregate import aggregate_scores, expected_scores
from maple.rule_script import run


def main(smk):
    aggregate_scores(
        list(smk.params.expected),
        expected_scores(smk.config),
        smk.output.parquet,
        smk.output.csv,
        smk.output.missing,
    )


run(snakemake, main)  # noqa: F821
