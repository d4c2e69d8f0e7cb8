# Tidy table, the study's tables and figures, the HTML report: tiny, run on the submit host; the
# bootstrap (minutes on the paper grid) runs as a job.


localrules:
    aggregate_scores,
    export_lm_eval,
    make_tables,
    plot_figure,
    render_report,


rule aggregate_scores:
    input:
        score_files,
    output:
        parquet=paths.TIDY_PARQUET,
        csv=report(
            paths.TIDY_CSV, caption="../docs/report/scores.rst", category="Scores"
        ),
        missing=paths.MISSING,
    log:
        paths.log("aggregate_scores"),
    benchmark:
        paths.benchmark("aggregate_scores")
    conda:
        "../envs/report.yaml"
    threads: res("aggregate_scores", "threads")
    resources:
        **rule_resources("aggregate_scores"),
    params:
        expected=lambda wc: job_params.file_list(
            paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS
        ),
    script:
        "../scripts/aggregate_scores.py"


rule bootstrap_scores:
    input:
        example_files,
    output:
        averages=paths.AVERAGES,
        comparisons=report(
            paths.COMPARISONS,
            caption="../docs/report/comparisons.rst",
            category="Scores",
        ),
    log:
        paths.log("bootstrap_scores"),
    benchmark:
        paths.benchmark("bootstrap_scores")
    conda:
        "../envs/report.yaml"
    threads: res("bootstrap_scores", "threads")
    resources:
        **rule_resources("bootstrap_scores"),
    params:
        bootstrap=bootstrap_params(),
    script:
        "../scripts/bootstrap_scores.py"


rule export_lm_eval:
    input:
        expand(paths.SCORES, task=TASKS, allow_missing=True),
    output:
        paths.LM_EVAL,
    log:
        paths.log("export_lm_eval", grid.CELL_JOB),
    benchmark:
        paths.benchmark("export_lm_eval", grid.CELL_JOB)
    wildcard_constraints:
        cell=grid.WILDCARD_CONSTRAINTS["cell"],
    conda:
        "../envs/report.yaml"
    threads: res("export_lm_eval", "threads")
    resources:
        **rule_resources("export_lm_eval"),
    params:
        cell="{cell}",
    script:
        "../scripts/export_lm_eval.py"


rule make_tables:
    input:
        tidy=paths.TIDY_PARQUET,
        averages=paths.AVERAGES,
    output:
        [report(f, category="Tables") for f in TABLE_FILES],
    log:
        paths.log("make_tables"),
    benchmark:
        paths.benchmark("make_tables")
    conda:
        "../envs/report.yaml"
    threads: res("make_tables", "threads")
    resources:
        **rule_resources("make_tables"),
    script:
        "../scripts/make_tables.py"


rule plot_figure:
    input:
        tidy=paths.TIDY_PARQUET,
        averages=paths.AVERAGES,
        comparisons=paths.COMPARISONS,
    output:
        png=report(
            paths.FIGURE_PNG,
            caption="../docs/report/figure.rst",
            category="Figures",
            subcategory="{protocol}",
        ),
        pdf=paths.FIGURE_PDF,
        data=paths.FIGURE_CSV,
    log:
        paths.log("plot_figure", "{stem}_{protocol}"),
    benchmark:
        paths.benchmark("plot_figure", "{stem}_{protocol}")
    wildcard_constraints:
        stem="|".join(FIGURES.values()),
        protocol="megaverse|reference",
    conda:
        "../envs/report.yaml"
    threads: res("plot_figure", "threads")
    resources:
        **rule_resources("plot_figure"),
    script:
        "../scripts/plot_figure.py"


rule render_report:
    input:
        scores=paths.TIDY_PARQUET,
        tables=TABLE_FILES,
        comparisons=paths.COMPARISONS,
        figures=FIGURE_PNGS,
        missing=paths.MISSING,
        served_checks=served_check_files,
    output:
        paths.REPORT,
    log:
        paths.log("render_report"),
    benchmark:
        paths.benchmark("render_report")
    conda:
        "../envs/report.yaml"
    threads: res("render_report", "threads")
    resources:
        **rule_resources("render_report"),
    script:
        "../scripts/render_report.py"
