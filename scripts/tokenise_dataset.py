"""Rule tokenise_dataset: prompt template + the base model's tokenizer, prompt masked in the labels."""

from maple.data.prepare import tokenise_raw
from maple.rule_script import run


def main(smk):
    tokenise_raw(smk.input.raw, smk.params.model, smk.params.prompt, smk.output[0], smk.params.trust_remote_code)


run(snakemake, main)  # noqa: F821
