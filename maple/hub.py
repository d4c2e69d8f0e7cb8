"""Hub snapshots for compute nodes without internet: which repositories a config reads, and the
download (huggingface_hub.snapshot_download at a pinned revision into the shared HF cache) that the
download_model / download_eval rules run on the submit host. GPU jobs then run with
HF_HUB_OFFLINE=1 and read those snapshots only (transformers and vLLM by hub id and revision from
the cache; maple.tasks.loading maps a dataset's hub id to its snapshot directory).

The token is read by huggingface_hub from the environment (HF_TOKEN) and never passed or logged here.
"""

from __future__ import annotations

import os

from maple.paths import is_local

# Repositories whose main branch holds a loading script, which datasets >= 4 refuses (checked against
# the hub's file listings): they must be read through `revision: refs/convert/parquet` or `data_files`.
SCRIPT_REPOS = {
    "facebook/mlqa": "mlqa.py only",
    "csebuetnlp/xlsum": "xlsum.py + data/*.tar.bz2",
    "tatsu-lab/alpaca_eval": "alpaca_eval.py beside alpaca_eval.json, alpaca_eval_gpt4_baseline.json, ...",
    "MBZUAI/Bactrian-X": "Bactrian-X.py + data/{lang}.json.gz",
}
MODEL_FILES = ["*.json", "*.safetensors", "tokenizer.model", "*.txt"]  # safetensors only, no .bin


def is_hub_id(path: str) -> bool:
    return bool(path) and not is_local(path)


def model_repos(config: dict) -> dict[str, dict]:
    """Models (including the judge) that live on the hub: name -> {repo_id, revision}."""
    return {
        name: {"repo_id": m["path"], "revision": m.get("revision"), "repo_type": "model", "allow_patterns": MODEL_FILES}
        for name, m in config["models"].items()
        if "build" not in m and is_hub_id(m["path"])
    }


def eval_repos(config: dict, task: str) -> list[dict]:
    """The hub datasets one evaluation task reads (its own, and e.g. SQuAD for XQuAD's shots)."""
    from maple.tasks import get_task
    from maple.tasks.loading import resolve_source

    spec = get_task(task)
    task_cfg = config["evaluation"]["tasks"][task]
    refs = {spec.data_for(lang) for lang in task_cfg["languages"]}
    refs |= {p.shot_data for p in spec.protocols.values() if p.shot_data}
    repos = []
    for ref in sorted(refs, key=lambda r: r.hub_id):
        source = resolve_source(spec, ref, task_cfg)
        if not is_hub_id(source):
            continue
        own = ref is spec.data
        entry = {"repo_id": source, "revision": task_cfg.get("revision") if own else None, "repo_type": "dataset",
                 "allow_patterns": None}
        if own and task_cfg.get("data_files"):
            configs = {p.config or spec.data.config for p in spec.protocols.values()}
            files = task_cfg["data_files"]
            patterns = files.values() if isinstance(files, dict) else [files]
            entry["allow_patterns"] = sorted({p.format(lang=lang, config=c.format(lang=lang), split="*")
                                              for p in patterns for c in configs for lang in task_cfg["languages"]})
        elif own and entry["revision"] == "refs/convert/parquet":
            # the export of a large dataset (XL-Sum: 45 languages): only the configured languages
            configs = {(p.config or spec.data.config).format(lang=lang) for p in spec.protocols.values()
                       for lang in task_cfg["languages"]}
            entry["allow_patterns"] = sorted(f"{c}/**" for c in configs)
        repos.append(entry)
    return repos


def eval_tasks_on_hub(config: dict) -> list[str]:
    return [t for t in config["evaluation"]["tasks"] if eval_repos(config, t)]


def download(repos: list[dict], hf_home: str | None = None) -> list[dict]:
    """snapshot_download each repository into the HF cache; returns what was fetched (commit, path)."""
    from huggingface_hub import snapshot_download

    # the same cache the jobs read: HF_HOME/hub (huggingface_hub's layout)
    home = hf_home or os.environ.get("HF_HOME")
    cache_dir = os.path.join(os.path.abspath(os.path.expanduser(home)), "hub") if home else None
    records = []
    for repo in repos:
        path = snapshot_download(
            repo["repo_id"], repo_type=repo["repo_type"], revision=repo.get("revision"),
            allow_patterns=repo.get("allow_patterns"), cache_dir=cache_dir,
        )
        records.append({**repo, "commit": os.path.basename(os.path.normpath(path)), "path": path})
    return records
