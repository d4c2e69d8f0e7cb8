"""Rules generate_outputs (one cell, one task) and generate_group_outputs (multi_lora: one rank group, one task)."""

from maple import grid
from maple.generate.run import generate_cell, generate_group
from maple.rule_script import run


def main(smk):
    settings = smk.params.settings
    # the model's prebuilt requests (rule build_requests), where the config builds them once
    requests = smk.input.get("requests") or None
    requests_path = requests if isinstance(requests, str) or requests is None else requests[0]
    if smk.rule == "generate_group_outputs":
        generate_group(smk.params.cells, list(smk.input.adapters), smk.params.model, smk.output[0], settings,
                       requests_path)
        return
    cell = grid.parse_cell(smk.params.cell)
    model_path = smk.params.model["path"] if cell.is_base else smk.input.model
    generate_cell(cell.id, smk.params.model, model_path, {smk.wildcards.task: smk.output[0]}, settings, requests_path)


run(snakemake, main)  # noqa: F821
