"""Rules download_model and download_eval: snapshot hub repositories into the shared HF cache."""

import json

from maple.hub import download
from maple.io import atomic_file
from maple.rule_script import run


def main(smk):
    records = download(list(smk.params.repos), smk.params.hf_home)
    for r in records:
        print(f"{r['repo_type']} {r['repo_id']} @ {r['revision'] or 'main'}: commit {r['commit']} in {r['path']}")
    with atomic_file(smk.output[0]) as fh:
        json.dump(records, fh, indent=1)


run(snakemake, main)  # noqa: F821
