"""Rules judge_alpaca_eval (one cell) and judge_group_alpaca_eval (multi_lora: one rank group):
pairwise judgements of AlpacaEval outputs against the references, both orders, one judge load."""

from pathlib import Path

from maple import grid, paths
from maple.io import atomic_dir
from maple.judge import judge_cells
from maple.rule_script import as_list, run
from maple.score_cell import raw_records
from maple.tasks import judged_task


def main(smk):
    task = judged_task(smk.config["evaluation"]["tasks"])  # AlpacaEval, by the spec's kind
    settings = smk.params.settings
    mode = smk.params.mode
    raw = as_list(smk.input.raw)
    if smk.rule == "judge_alpaca_eval":
        batches = [(raw_records(smk.params.cell, task, raw, mode), smk.output[0])]
        judge_cells(batches, smk.params.judge, smk.params.judge_model, settings)
        return
    with atomic_dir(smk.output[0]) as tmp:
        batches = []
        for cell_id in smk.params.cells:
            cell = grid.parse_cell(cell_id)
            out = paths.group_member_file(str(tmp), cell, "judgements")
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            batches.append((raw_records(cell_id, task, raw, mode), out))
        judge_cells(batches, smk.params.judge, smk.params.judge_model, settings)


run(snakemake, main)  # noqa: F821
