"""Rule train_adapter: one LoRA / QLoRA cell."""

from maple.rule_script import run
from maple.train.trainer import train_adapter


def main(smk):
    train_adapter(
        smk.params.cell,
        smk.params.model,
        smk.params.training,
        smk.input.data,
        smk.output[0],
        smk.params.checkpoints.format(**dict(smk.wildcards.items())),
        device=smk.params.device,
        trust_remote_code=smk.params.trust_remote_code,
    )


run(snakemake, main)  # noqa: F821
