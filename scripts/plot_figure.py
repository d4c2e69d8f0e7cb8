"""Rule plot_figure: one figure for one protocol: its data frame (CSV), then its PNG and PDF."""

import pandas as pd

from maple.report.figure_names import STEMS
from maple.report.figures import plot_figure
from maple.rule_script import run


def main(smk):
    key = next(k for k, stem in STEMS.items() if stem == smk.wildcards.stem)
    out_stem = smk.output.png[: -len(".png")]
    plot_figure(key, pd.read_parquet(smk.input.tidy), out_stem, smk.wildcards.protocol, smk.config,
                averages=pd.read_csv(smk.input.averages), comparisons=pd.read_csv(smk.input.comparisons))


run(snakemake, main)  # noqa: F821
