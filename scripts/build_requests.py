"""Rule build_requests: one task's requests for one model, built once for all its cells (device cuda)."""

from maple.generate.run import build_model_requests
from maple.rule_script import run


def main(smk):
    build_model_requests(smk.params.settings, smk.params.model, smk.output.requests, smk.output.ids)


run(snakemake, main)  # noqa: F821
