# Batched generation, one job and one engine load per cell and task: a job's params hold only its
# task's settings, so adding a language or changing one task's settings regenerates that task only
# (or its evaluation.task_groups group, whose tasks one job generates with one engine load).
# merged mode: one job per cell and task serves its merged checkpoint; multi_lora mode: one job per
# (model, rank, task) serves the base once with a LoRA request per adapter, and the model's base cell
# (in its lowest-rank group) by requests without adapter. Base models in merged mode: per task.


# One task's requests for one model and their prompts' token ids, built on CPU once for all of the
# model's cells (device cuda; maple.generate.prebuilt): a generation job would otherwise build and
# tokenise them while holding its GPU.
rule build_requests:
    input:
        model=lambda wc: model_inputs(wc.model),
        evals=eval_downloads,
    output:
        requests=paths.REQUESTS,
        ids=paths.REQUEST_IDS,
    log:
        paths.log("build_requests", "{model}/{task}"),
    benchmark:
        paths.benchmark("build_requests", "{model}/{task}")
    conda:
        "../envs/generate.yaml"
    threads: res("build_requests", "threads")
    resources:
        **rule_resources("build_requests"),
    params:
        model=lambda wc: job_params.model_params(config, wc.model),
        settings=lambda wc: job_params.generation_params(config, wc.task),
    script:
        "../scripts/build_requests.py"


rule generate_outputs:
    input:
        unpack(generation_inputs),
    output:
        paths.OUTPUTS,
    log:
        paths.log("generate_outputs", grid.CELL_TASK_JOB),
    benchmark:
        paths.benchmark("generate_outputs", grid.CELL_TASK_JOB)
    wildcard_constraints:
        cell=grid.per_cell_generation_constraint(config),
        task=grid.ungrouped_task_constraint(config),
    conda:
        "../envs/generate.yaml"
    threads: res("generate_outputs", "threads")
    resources:
        **rule_resources("generate_outputs"),
    params:
        cell="{cell}",
        model=lambda wc: job_params.model_params(config, grid.parse_cell(wc.cell).model),
        settings=lambda wc: job_params.generation_params(config, wc.task),
    script:
        "../scripts/generate_outputs.py"


# evaluation.task_groups: one job and one engine load for a group of a cell's tasks, each task's
# requests sent as its own job would send them (maple.generate.run.generate_cell_tasks)
rule generate_task_group_outputs:
    input:
        unpack(task_group_generation_inputs),
    output:
        directory(paths.TASK_GROUP_OUTPUTS),
    log:
        paths.log("generate_task_group_outputs", grid.CELL_TASKS_JOB),
    benchmark:
        paths.benchmark("generate_task_group_outputs", grid.CELL_TASKS_JOB)
    wildcard_constraints:
        cell=grid.per_cell_generation_constraint(config),
        tasks=grid.task_group_constraint(config),
    conda:
        "../envs/generate.yaml"
    threads: res("generate_task_group_outputs", "threads")
    resources:
        **rule_resources("generate_task_group_outputs"),
    params:
        cell="{cell}",
        model=lambda wc: job_params.model_params(config, grid.parse_cell(wc.cell).model),
        settings=lambda wc: {
            t: job_params.generation_params(config, t) for t in wc.tasks.split("+")
        },
    script:
        "../scripts/generate_outputs.py"


rule generate_group_outputs:
    input:
        adapters=group_adapters,
        model=lambda wc: model_inputs(wc.model),
        evals=eval_downloads,
        requests=lambda wc: prebuilt_requests(wc.model, wc.task),
    output:
        directory(paths.GROUP_OUTPUTS),
    log:
        paths.log("generate_group_outputs", grid.GROUP_TASK_JOB),
    benchmark:
        paths.benchmark("generate_group_outputs", grid.GROUP_TASK_JOB)
    conda:
        "../envs/generate.yaml"
    threads: res("generate_group_outputs", "threads")
    resources:
        **rule_resources("generate_group_outputs"),
    params:
        cells=lambda wc: [c.id for c in group_cells(wc)],
        model=lambda wc: job_params.model_params(config, wc.model),
        settings=lambda wc: job_params.generation_params(config, wc.task),
    script:
        "../scripts/generate_outputs.py"


# Is the served model the trained one: a fixed sample of a finetuned cell's recorded outputs against
# its base cell's recorded outputs and, in multi_lora, the adapter merged in memory and decoded by HF
# (maple.generate.check). No merge job, no vLLM engine; the report flags a failing cell. A multi_lora
# group's cells are checked in one job (their imports paid once), cells served merged one job each.
rule check_served_model:
    input:
        raw=lambda wc: raw_output(grid.parse_cell(wc.cell), PROBE_TASK),
        base=lambda wc: served_check_base(grid.parse_cell(wc.cell).model),
        model=lambda wc: model_inputs(grid.parse_cell(wc.cell).model),
    output:
        paths.SERVED_CHECK,
    log:
        paths.log("check_served_model", grid.CELL_JOB),
    benchmark:
        paths.benchmark("check_served_model", grid.CELL_JOB)
    wildcard_constraints:
        cell=grid.per_cell_check_constraint(config),
    conda:
        "../envs/generate.yaml"
    threads: res("check_served_model", "threads")
    resources:
        **rule_resources("check_served_model"),
    params:
        cell="{cell}",
        mode=lambda wc: serving_mode(grid.parse_cell(wc.cell)),
        base_cell=lambda wc: grid.Cell(grid.parse_cell(wc.cell).model).id,
        base_mode=lambda wc: serving_mode(grid.Cell(grid.parse_cell(wc.cell).model)),
        model=lambda wc: job_params.model_params(config, grid.parse_cell(wc.cell).model),
        settings=job_params.generation_params(config, PROBE_TASK),
    script:
        "../scripts/check_served_model.py"


rule check_group_served_models:
    input:
        raw=lambda wc: paths.group_outputs_dir(wc.model, wc.rank, PROBE_TASK),
        base=lambda wc: served_check_base(wc.model),
        model=lambda wc: model_inputs(wc.model),
        adapters=group_adapters,
    output:
        directory(paths.GROUP_SERVED_CHECKS),
    log:
        paths.log("check_group_served_models", grid.GROUP_JOB),
    benchmark:
        paths.benchmark("check_group_served_models", grid.GROUP_JOB)
    conda:
        "../envs/generate.yaml"
    threads: res("check_group_served_models", "threads")
    resources:
        **rule_resources("check_group_served_models"),
    params:
        cells=lambda wc: [c.id for c in group_cells(wc) if not c.is_base],
        base_cell=lambda wc: grid.Cell(wc.model).id,
        base_mode=lambda wc: serving_mode(grid.Cell(wc.model)),
        model=lambda wc: job_params.model_params(config, wc.model),
        settings=job_params.generation_params(config, PROBE_TASK),
    script:
        "../scripts/check_served_model.py"
