# Scoring reads raw outputs only: a metric change rescores without regenerating.


def raw_outputs(wildcards):
    """The file(s) holding a cell's raw generations, wherever its generation mode put them."""
    cell = grid.parse_cell(wildcards.cell)
    if MODE == "multi_lora" and not cell.is_base:
        return paths.group_outputs_dir(cell.model, cell.rank)
    return [paths.outputs_file(cell, t) for t in TASKS]


def judge_inputs(wildcards):
    if "alpaca_eval" not in TASKS:
        return []
    cell = grid.parse_cell(wildcards.cell)
    if MODE == "multi_lora" and not cell.is_base:
        return paths.fill(paths.GROUP_JUDGEMENTS, model=cell.model, rank=cell.rank)
    return paths.fill(paths.JUDGEMENTS, cell=wildcards.cell)


def judge_params():
    judge = config["evaluation"].get("judge", {})
    return {"judge": judge, "judge_model": config["models"].get(judge.get("model"), {})}


rule judge_alpaca_eval:
    input:
        raw=raw_outputs,
        judge=lambda wc: model_inputs(config["evaluation"]["judge"]["model"]),
    output:
        paths.JUDGEMENTS,
    params:
        cell="{cell}",
        settings=eval_params(),
        **judge_params(),
    wildcard_constraints:
        cell=(
            r"[A-Za-z0-9._-]+/none/base"
            if MODE == "multi_lora"
            else grid.WILDCARD_CONSTRAINTS["cell"]
        ),
    log:
        paths.log("judge_alpaca_eval", "{cell}"),
    benchmark:
        paths.benchmark("judge_alpaca_eval", "{cell}")
    threads: res("judge_alpaca_eval", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("judge_alpaca_eval"),
        runtime=res("judge_alpaca_eval", "runtime", 60),
        gpu=res("judge_alpaca_eval", "gpu", 0),
    conda:
        "../envs/generate.yaml"
    script:
        "../scripts/judge_alpaca_eval.py"


rule judge_group_alpaca_eval:
    input:
        raw=lambda wc: paths.group_outputs_dir(wc.model, wc.rank),
        judge=lambda wc: model_inputs(config["evaluation"]["judge"]["model"]),
    output:
        directory(paths.GROUP_JUDGEMENTS),
    params:
        cells=lambda wc: [c.id for c in group_cells(wc)],
        settings=eval_params(),
        **judge_params(),
    log:
        paths.log("judge_group_alpaca_eval", "{model}/lora-r{rank}"),
    benchmark:
        paths.benchmark("judge_group_alpaca_eval", "{model}/lora-r{rank}")
    threads: res("judge_alpaca_eval", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("judge_alpaca_eval"),
        runtime=res("judge_alpaca_eval", "runtime", 60),
        gpu=res("judge_alpaca_eval", "gpu", 0),
    conda:
        "../envs/generate.yaml"
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
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/score_outputs.py"
