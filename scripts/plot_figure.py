"""Rule plot_figure: one of the study's figures, for one protocol, from the tidy table alone."""

import pandas as pd

from maple.report.figure_names import STEMS
from maple.report.figures import plot_figure
from maple.rule_script import run


def main(smk):
    key = next(k for k, stem in STEMS.items() if stem == smk.wildcards.stem)
    out_stem = smk.output.png[: -len(".png")]
    plot_figure(key, pd.read_parquet(smk.input[0]), out_stem, smk.wildcards.protocol, smk.config)


run(snakemake, main)  # noqa: F821
