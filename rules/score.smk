# Scoring reads raw outputs only: a metric change rescores without regenerating.


rule judge_alpaca_eval:
    input:
        raw=raw_outputs,
        judge=lambda wc: model_inputs(config["evaluation"]["judge"]["model"]),
    output:
        paths.JUDGEMENTS,
    log:
        paths.log("judge_alpaca_eval", "{cell}"),
    benchmark:
        paths.benchmark("judge_alpaca_eval", "{cell}")
    wildcard_constraints:
        cell=(
            r"[A-Za-z0-9._-]+/none/base"
            if MODE == "multi_lora"
            else grid.WILDCARD_CONSTRAINTS["cell"]
        ),
    conda:
        "../envs/generate.yaml"
    threads: res("judge_alpaca_eval", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("judge_alpaca_eval"),
        runtime=res("judge_alpaca_eval", "runtime", 60),
        gpu=res("judge_alpaca_eval", "gpu", 0),
    params:
        **judge_params(),
        cell="{cell}",
        settings=eval_params(),
    script:
        "../scripts/judge_alpaca_eval.py"


rule judge_group_alpaca_eval:
    input:
        raw=lambda wc: paths.group_outputs_dir(wc.model, wc.rank),
        judge=lambda wc: model_inputs(config["evaluation"]["judge"]["model"]),
    output:
        directory(paths.GROUP_JUDGEMENTS),
    log:
        paths.log("judge_group_alpaca_eval", "{model}/lora-r{rank}"),
    benchmark:
        paths.benchmark("judge_group_alpaca_eval", "{model}/lora-r{rank}")
    conda:
        "../envs/generate.yaml"
    threads: res("judge_alpaca_eval", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("judge_alpaca_eval"),
        runtime=res("judge_alpaca_eval", "runtime", 60),
        gpu=res("judge_alpaca_eval", "gpu", 0),
    params:
        **judge_params(),
        cells=lambda wc: [c.id for c in group_cells(wc)],
        settings=eval_params(),
    script:
        "../scripts/judge_alpaca_eval.py"


rule score_outputs:
    input:
        raw=raw_outputs,
        judgements=judge_inputs,
    output:
        scores=expand(paths.SCORES, task=TASKS, allow_missing=True),
        examples=expand(paths.EXAMPLE_SCORES, task=TASKS, allow_missing=True),
    log:
        paths.log("score_outputs", "{cell}"),
    benchmark:
        paths.benchmark("score_outputs", "{cell}")
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=res("score_outputs", "mem_mb", 2000),
        runtime=res("score_outputs", "runtime", 30),
        gpu=0,
    params:
        cell="{cell}",
        tasks=TASKS,
        mode=MODE,
        settings=eval_params(),
        bootstrap=bootstrap_params(),
    script:
        "../scripts/score_outputs.py"
