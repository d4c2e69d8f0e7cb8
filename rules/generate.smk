# Batched generation of every task x language x protocol prompt, one engine load per job.
# merged mode: one job per cell serves its merged checkpoint; multi_lora mode: one job per
# (model, rank) serves the base once with a LoRA request per adapter. Base models: one job each.


rule generate_outputs:
    input:
        generation_inputs,
    output:
        expand(paths.OUTPUTS, task=TASKS, allow_missing=True),
    log:
        paths.log("generate_outputs", "{cell}"),
    benchmark:
        paths.benchmark("generate_outputs", "{cell}")
    wildcard_constraints:
        cell=(
            r"[A-Za-z0-9._-]+/none/base"
            if MODE == "multi_lora"
            else grid.WILDCARD_CONSTRAINTS["cell"]
        ),
    conda:
        "../envs/generate.yaml"
    threads: res("generate_outputs", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("generate_outputs"),
        runtime=res("generate_outputs", "runtime", 60),
        gpu=res("generate_outputs", "gpu", 0),
    params:
        cell="{cell}",
        model=lambda wc: config["models"][grid.parse_cell(wc.cell).model],
        settings=eval_params(),
    script:
        "../scripts/generate_outputs.py"


rule generate_group_outputs:
    input:
        adapters=lambda wc: [paths.adapter_dir(c) for c in group_cells(wc)],
        model=lambda wc: model_inputs(wc.model),
        evals=eval_downloads,
    output:
        directory(paths.GROUP_OUTPUTS),
    log:
        paths.log("generate_group_outputs", "{model}/lora-r{rank}"),
    benchmark:
        paths.benchmark("generate_group_outputs", "{model}/lora-r{rank}")
    conda:
        "../envs/generate.yaml"
    threads: res("generate_outputs", "threads", 1)
    resources:
        mem_mb=mem_on_attempt("generate_outputs"),
        runtime=res("generate_outputs", "runtime", 60),
        gpu=res("generate_outputs", "gpu", 0),
    params:
        cells=lambda wc: [c.id for c in group_cells(wc)],
        model=lambda wc: config["models"][wc.model],
        settings=eval_params(),
    script:
        "../scripts/generate_outputs.py"
