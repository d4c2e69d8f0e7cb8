"""Rules generate_outputs (one cell, one task), generate_task_group_outputs (one cell, an
evaluation.task_groups group) and generate_group_outputs (multi_lora: one rank group, one task)."""

from maple import grid, paths
from maple.generate.run import generate_cell, generate_cell_tasks, generate_group
from maple.rule_script import run


def main(smk):
    settings = smk.params.settings
    # the model's prebuilt requests and their token ids (rule build_requests), where the config builds them once
    prebuilt = smk.input.get("requests") or []
    prebuilt = [prebuilt] if isinstance(prebuilt, str) else list(prebuilt)
    if smk.rule == "generate_group_outputs":
        generate_group(smk.params.cells, list(smk.input.adapters), smk.params.model, smk.output[0], settings,
                       *prebuilt)
        return
    cell = grid.parse_cell(smk.params.cell)
    model_path = smk.params.model["path"] if cell.is_base else smk.input.model
    if smk.rule == "generate_task_group_outputs":
        files = {t: (paths.requests_file(cell.model, t), paths.request_ids_file(cell.model, t)) for t in settings}
        generate_cell_tasks(cell.id, smk.params.model, model_path, smk.output[0], settings,
                            {t: f for t, f in files.items() if set(f) <= set(prebuilt)})
        return
    generate_cell(cell.id, smk.params.model, model_path, {smk.wildcards.task: smk.output[0]}, settings, *prebuilt)


run(snakemake, main)  # noqa: F821
