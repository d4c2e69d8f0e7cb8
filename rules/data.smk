# Tiny models (embedded default only), dataset download + language selection, tokenisation.


localrules:
    download_dataset,  # compute nodes often have no internet; HF_TOKEN stays on the submit host


rule build_tiny_model:
    input:
        "resources/data",
        "resources/eval",
    output:
        directory(paths.TINY_MODEL),
    log:
        paths.log("build_tiny_model", "{model}"),
    benchmark:
        paths.benchmark("build_tiny_model", "{model}")
    conda:
        "../envs/train.yaml"
    threads: res("build_tiny_model", "threads")
    resources:
        **rule_resources("build_tiny_model"),
    params:
        build=lambda wc: job_params.canonical(config["models"][wc.model]["build"]),
        seed=config["seed"],
        # a task's `split` override is excluded from the text too
        tasks=job_params.split_overrides(config),
    script:
        "../scripts/build_tiny_model.py"


rule download_dataset:
    output:
        directory(paths.RAW_DATA),
    log:
        paths.log("download_dataset", "{dataset}"),
    benchmark:
        paths.benchmark("download_dataset", "{dataset}")
    conda:
        "../envs/train.yaml"
    threads: res("download_dataset", "threads")
    resources:
        **rule_resources("download_dataset"),
    params:
        dataset=lambda wc: job_params.canonical(config["datasets"][wc.dataset]),
        seed=config["seed"],
    script:
        "../scripts/download_dataset.py"


rule tokenise_dataset:
    input:
        raw=paths.RAW_DATA,
        model=lambda wc: model_inputs(wc.model),
    output:
        directory(paths.TOKENISED),
    log:
        paths.log("tokenise_dataset", "{dataset}/{model}"),
    benchmark:
        paths.benchmark("tokenise_dataset", "{dataset}/{model}")
    conda:
        "../envs/train.yaml"
    threads: res("tokenise_dataset", "threads")
    resources:
        **rule_resources("tokenise_dataset"),
    params:
        model=lambda wc: job_params.canonical(config["models"][wc.model]),
        prompt=job_params.canonical(config["prompt"]),
        trust_remote_code=config["trust_remote_code"],
    script:
        "../scripts/tokenise_dataset.py"
