"""Rule score_outputs: raw outputs (and AlpacaEval judgements) of one cell -> metric rows."""

from maple.rule_script import run
from maple.score_cell import score_cell


def main(smk):
    judgements = smk.input.judgements[0] if len(smk.input.judgements) else None
    score_cell(
        smk.params.cell,
        smk.params.tasks,
        list(smk.input.raw),
        judgements,
        list(smk.output.scores),
        list(smk.output.examples),
        smk.params.settings,
        smk.params.mode,
    )


run(snakemake, main)  # noqa: F821
