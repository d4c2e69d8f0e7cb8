"""Rule download_dataset: load from the hub id or local hub-layout dir, select languages, subsample."""

from maple.data.prepare import download_dataset
from maple.rule_script import run


def main(smk):
    download_dataset(smk.wildcards.dataset, smk.params.dataset, smk.params.seed, smk.output[0])


run(snakemake, main)  # noqa: F821
