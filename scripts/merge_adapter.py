"""Rule merge_adapter: merge_and_unload into the (de-quantised) base, safetensors out."""

from maple.rule_script import run
from maple.train.merge import merge_adapter


def main(smk):
    merge_adapter(
        smk.params.cell,
        smk.params.model,
        smk.input.adapter,
        smk.output[0],
        int(smk.wildcards.bits),
        device=smk.params.device,
        trust_remote_code=smk.params.trust_remote_code,
    )


run(snakemake, main)  # noqa: F821
