"""Rule judge_alpaca_eval: pairwise judgements of one cell's AlpacaEval outputs, both orders."""

from maple.judge import judge_cell
from maple.rule_script import run
from maple.score_cell import raw_records


def main(smk):
    settings = smk.params.settings
    mode = settings["evaluation"].get("mode", "multi_lora")
    records = raw_records(smk.params.cell, "alpaca_eval", list(smk.input.raw), mode)
    judge_cell(records, smk.params.judge, smk.params.judge_model, settings, smk.output[0])


run(snakemake, main)  # noqa: F821
