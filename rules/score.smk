# Judging reads AlpacaEval outputs and judge settings only; scoring reads one task's raw outputs and
# scoring options (plus a digest of the scoring code): a metric change rescores without regenerating.


rule judge_alpaca_eval:
    input:
        raw=lambda wc: raw_output(grid.parse_cell(wc.cell), JUDGED_TASK),
        judge=judge_model_inputs,
    output:
        paths.JUDGEMENTS,
    log:
        paths.log("judge_alpaca_eval", grid.CELL_JOB),
    benchmark:
        paths.benchmark("judge_alpaca_eval", grid.CELL_JOB)
    wildcard_constraints:
        cell=grid.per_cell_generation_constraint(config),
    conda:
        "../envs/generate.yaml"
    threads: res("judge_alpaca_eval", "threads")
    resources:
        **rule_resources("judge_alpaca_eval"),
    params:
        **job_params.judge_params(config),
        cell="{cell}",
        mode=lambda wc: serving_mode(grid.parse_cell(wc.cell)),
    script:
        "../scripts/judge_alpaca_eval.py"


rule judge_group_alpaca_eval:
    input:
        raw=lambda wc: paths.group_outputs_dir(wc.model, wc.rank, JUDGED_TASK),
        judge=judge_model_inputs,
    output:
        directory(paths.GROUP_JUDGEMENTS),
    log:
        paths.log("judge_group_alpaca_eval", grid.GROUP_JOB),
    benchmark:
        paths.benchmark("judge_group_alpaca_eval", grid.GROUP_JOB)
    conda:
        "../envs/generate.yaml"
    threads: res("judge_group_alpaca_eval", "threads")
    resources:
        **rule_resources("judge_group_alpaca_eval"),
    params:
        **job_params.judge_params(config),
        cells=lambda wc: [c.id for c in group_cells(wc)],
        mode=MODE,
    script:
        "../scripts/judge_alpaca_eval.py"


rule score_outputs:
    input:
        raw=lambda wc: raw_output(grid.parse_cell(wc.cell), wc.task),
        judgements=judge_inputs,
    output:
        scores=paths.SCORES,
        examples=paths.EXAMPLE_SCORES,
    log:
        paths.log("score_outputs", grid.CELL_TASK_JOB),
    benchmark:
        paths.benchmark("score_outputs", grid.CELL_TASK_JOB)
    conda:
        "../envs/report.yaml"
    threads: res("score_outputs", "threads")
    resources:
        **rule_resources("score_outputs"),
    params:
        cell="{cell}",
        task="{task}",
        mode=lambda wc: serving_mode(grid.parse_cell(wc.cell)),
        settings=lambda wc: job_params.scoring_params(config, wc.task),
        code=job_params.code_digest(),
        bootstrap=bootstrap_params(),
    script:
        "../scripts/score_outputs.py"
