"""Rule build_tiny_model: a tiny base model + tokenizer built offline from the bundled text."""

from maple.data.tiny_model import build_tiny_model
from maple.rule_script import run


def main(smk):
    build_tiny_model(smk.output[0], smk.params.build, list(smk.input), smk.params.seed, smk.params.tasks)


run(snakemake, main)  # noqa: F821
