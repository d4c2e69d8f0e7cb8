"""Rule check_served_model: is one finetuned cell's served model the trained one (maple.generate.check)."""

from maple import grid
from maple.generate.check import check_cell
from maple.rule_script import as_list, run
from maple.score_cell import raw_records


def main(smk):
    cell = grid.parse_cell(smk.params.cell)
    mode = smk.params.mode
    task = next(iter(smk.params.settings["evaluation"]["tasks"]))
    records = raw_records(cell.id, task, as_list(smk.input.raw), mode)
    base = as_list(smk.input.base)
    # the base cell's own serving mode: in multi_lora its outputs lie in its model's group directory
    base_records = raw_records(grid.Cell(cell.model).id, task, base, smk.params.base_mode) if base else None
    check_cell(cell.id, mode, smk.params.model, records, smk.params.settings, smk.output[0],
               adapter_dir=smk.input.adapter if mode == "multi_lora" else None, base_records=base_records)


run(snakemake, main)  # noqa: F821
