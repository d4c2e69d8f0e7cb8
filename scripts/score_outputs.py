"""Rule score_outputs: raw outputs (and AlpacaEval judgements) of one cell and task -> metric rows."""

from maple.rule_script import as_list, run
from maple.score_cell import score_cell


def main(smk):
    judgements = (as_list(smk.input.judgements) or [None])[0]
    score_cell(
        smk.params.cell,
        smk.params.task,
        as_list(smk.input.raw),
        judgements,
        smk.output.scores,
        smk.output.examples,
        smk.params.settings,
        smk.params.mode,
        smk.params.bootstrap,
    )


run(snakemake, main)  # noqa: F821
