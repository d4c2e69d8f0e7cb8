"""Rules check_served_model (one finetuned cell) and check_group_served_models (multi_lora: one group):
is each served model the trained one (maple.generate.check)."""

from maple import grid
from maple.generate.check import check_cell, check_group
from maple.rule_script import as_list, run
from maple.score_cell import raw_records


def main(smk):
    task = next(iter(smk.params.settings["evaluation"]["tasks"]))
    raw = as_list(smk.input.raw)
    base = as_list(smk.input.base)
    # the base cell's own serving mode: in multi_lora its outputs lie in its model's group directory
    base_records = raw_records(smk.params.base_cell, task, base, smk.params.base_mode) if base else None
    if smk.rule == "check_group_served_models":
        cells = [(cell_id, raw_records(cell_id, task, raw, "multi_lora"), adapter)
                 for cell_id, adapter in zip(smk.params.cells, as_list(smk.input.adapters), strict=True)]
        check_group(cells, smk.params.model, smk.params.settings, smk.output[0], base_records=base_records)
        return
    # a cell checked alone is served merged: its recorded outputs are its merged checkpoint's, no adapter to merge
    cell = grid.parse_cell(smk.params.cell)
    mode = smk.params.mode
    check_cell(cell.id, mode, smk.params.model, raw_records(cell.id, task, raw, mode), smk.params.settings,
               smk.output[0], base_records=base_records)


run(snakemake, main)  # noqa: F821
