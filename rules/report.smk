# Tidy table, the study's tables and figures, the HTML report. All tiny: run on the submit host.

from maple.report import figure_names


localrules:
    aggregate_scores,
    make_tables,
    plot_figure,
    render_report,


PROTOCOLS = config["evaluation"].get("protocols", ["megaverse", "reference"])
FIGURES = figure_names.STEMS
FIGURE_PNGS = [f"{paths.FIGURES}/{stem}_{p}.png" for p in PROTOCOLS for stem in FIGURES.values()]
TABLE_FILES = [f"{paths.TABLES}/{name}" for name in ("table1.csv", "table1.md", "table2.csv", "table2.md")]


def report_targets():
    return [paths.TIDY_CSV, *TABLE_FILES, *FIGURE_PNGS, paths.REPORT]


def score_files(wildcards):
    """Every cell's scores; with partial_report, only those that exist (after failed cells)."""
    files = [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    if config.get("partial_report", False):
        return [f for f in files if os.path.exists(f)]
    return files


rule aggregate_scores:
    input:
        score_files,
    output:
        parquet=paths.TIDY_PARQUET,
        csv=report(paths.TIDY_CSV, caption="../docs/report/scores.rst", category="Scores"),
        missing=paths.MISSING,
    params:
        expected=lambda wc: [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS],
    log:
        paths.log("aggregate_scores"),
    benchmark:
        paths.benchmark("aggregate_scores")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/aggregate_scores.py"


rule make_tables:
    input:
        paths.TIDY_PARQUET,
    output:
        [report(f, category="Tables") for f in TABLE_FILES],
    log:
        paths.log("make_tables"),
    benchmark:
        paths.benchmark("make_tables")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/make_tables.py"


rule plot_figure:
    input:
        paths.TIDY_PARQUET,
    output:
        png=report(
            paths.FIGURES + "/{stem}_{protocol}.png",
            caption="../docs/report/figure.rst",
            category="Figures",
            subcategory="{protocol}",
        ),
        pdf=paths.FIGURES + "/{stem}_{protocol}.pdf",
    wildcard_constraints:
        stem="|".join(FIGURES.values()),
        protocol="megaverse|reference",
    log:
        paths.log("plot_figure", "{stem}_{protocol}"),
    benchmark:
        paths.benchmark("plot_figure", "{stem}_{protocol}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/plot_figure.py"


rule render_report:
    input:
        tables=TABLE_FILES,
        figures=FIGURE_PNGS,
        missing=paths.MISSING,
    output:
        paths.REPORT,
    log:
        paths.log("render_report"),
    benchmark:
        paths.benchmark("render_report")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
        gpu=0,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/render_report.py"
