# Hub snapshots on the submit host (localrules): compute nodes have no internet and every other job
# runs with HF_HUB_OFFLINE=1 (maple.resources: `hub`), reading only these snapshots from HF_HOME.
# Models and datasets that are local directories (the embedded default) need none.


localrules:
    download_model,
    download_eval,


rule download_model:
    output:
        paths.DOWNLOAD_MODEL,
    log:
        paths.log("download_model", "{model}"),
    benchmark:
        paths.benchmark("download_model", "{model}")
    conda:
        "../envs/train.yaml"
    threads: res("download_model", "threads")
    resources:
        **rule_resources("download_model"),
    params:
        repos=lambda wc: [HUB_MODELS[wc.model]],
        hf_home=config.get("hf_home"),
    script:
        "../scripts/download_hub.py"


rule download_eval:
    output:
        paths.DOWNLOAD_EVAL,
    log:
        paths.log("download_eval", "{task}"),
    benchmark:
        paths.benchmark("download_eval", "{task}")
    conda:
        "../envs/generate.yaml"
    threads: res("download_eval", "threads")
    resources:
        **rule_resources("download_eval"),
    params:
        repos=lambda wc: hub.eval_repos(config, wc.task),
        hf_home=config.get("hf_home"),
    script:
        "../scripts/download_hub.py"
