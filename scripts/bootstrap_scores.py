"""Rule bootstrap_scores: per-example scores -> averages with intervals, paired comparisons."""

from maple.report.intervals import write_intervals
from maple.rule_script import as_list, run


def main(smk):
    write_intervals(as_list(smk.input), smk.params.bootstrap, smk.output.averages, smk.output.comparisons)


run(snakemake, main)  # noqa: F821
