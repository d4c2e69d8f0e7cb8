"""Rule export_lm_eval: one cell's score rows -> results/lm_eval/{cell}.json (lm-eval's layout)."""

from maple.report.lm_eval import write_lm_eval
from maple.rule_script import as_list, run


def main(smk):
    write_lm_eval(smk.params.cell, as_list(smk.input), smk.output[0], smk.config)


run(snakemake, main)  # noqa: F821
