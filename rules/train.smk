# One LoRA / QLoRA training job per cell, then merging into the base.


rule train_adapter:
    input:
        data=paths.TOKENISED,
        model=lambda wc: model_inputs(wc.model),
    output:
        directory(paths.ADAPTER),
    log:
        paths.log("train_adapter", grid.TRAINED_ID),
    benchmark:
        paths.benchmark("train_adapter", grid.TRAINED_ID)
    conda:
        "../envs/train.yaml"
    threads: res("train_adapter", "threads")
    resources:
        **rule_resources("train_adapter"),
    params:
        cell=lambda wc: cell_of(wc).id,
        model=lambda wc: job_params.canonical(config["models"][wc.model]),
        training=lambda wc: job_params.training_params(config, cell_of(wc)),
        checkpoints=paths.CHECKPOINTS,
        device=DEVICE,
        trust_remote_code=config["trust_remote_code"],
    script:
        "../scripts/train_adapter.py"


rule merge_adapter:
    input:
        adapter=paths.ADAPTER,
        model=lambda wc: model_inputs(wc.model),
    output:
        (
            directory(paths.MERGED)
            if config["merge"]["keep"]
            else temp(directory(paths.MERGED))
        ),
    log:
        paths.log("merge_adapter", grid.TRAINED_ID),
    benchmark:
        paths.benchmark("merge_adapter", grid.TRAINED_ID)
    conda:
        "../envs/train.yaml"
    threads: res("merge_adapter", "threads")
    resources:
        **rule_resources("merge_adapter"),
    params:
        cell=lambda wc: cell_of(wc).id,
        model=lambda wc: job_params.canonical(config["models"][wc.model]),
        device=DEVICE,
        trust_remote_code=config["trust_remote_code"],
    script:
        "../scripts/merge_adapter.py"
