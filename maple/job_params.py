"""What each job reads of the config, canonical, for Snakemake `params`.

Snakemake reruns a job when the repr of a param changes. A param holding the whole `evaluation`
block reran every generation for any edit (a judge switch, one added language), and a dict's repr
follows key order, so reformatting the config reran jobs too. Each function here picks only the keys
its job reads and returns them with keys sorted at every level: equal configs give equal reprs.

Pure functions on the validated config; imported at parse time, so no heavy imports.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# per-task keys read at scoring only: changing them rescores without regenerating
SCORING_KEYS = ("scoring",)
# evaluation keys every generation job reads (loglikelihood only for multiple-choice tasks)
GENERATION_KEYS = ("backend", "protocols", "max_examples", "max_model_len")
PACKAGE = Path(__file__).resolve().parent
# the code scoring runs: extraction, metrics, the registry's metric names
SCORING_CODE = ("metrics", "score_cell.py", "tasks/extract.py", "tasks/spec.py", "tasks/specs.py")


# lists whose order means nothing (a set written as a list): sorted in the params, so that reordering
# them reruns nothing, and the job sees one order whatever the config's (its outputs stay identical)
UNORDERED_EVALUATION = ("protocols",)
UNORDERED_TASK = ("languages",)
UNORDERED_TRAINING = ("target_modules", "report_to")  # peft takes target_modules as a set


def canonical(value):
    """A copy with every mapping's keys in sorted order: one repr per value, whatever the YAML's order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def _model(config: dict, name: str) -> dict:
    """What a serving job reads of a model entry (not `family`: a label for the report)."""
    model = config["models"][name]
    return {"path": model["path"], "revision": model.get("revision"), "max_model_len": model.get("max_model_len")}


def _common(config: dict) -> dict:
    return {
        "prompt": config["prompt"],
        "seed": config["seed"],
        "device": config["device"],
        "trust_remote_code": config["trust_remote_code"],
    }


def generation_settings(config: dict, task: str) -> dict:
    """The settings one task's generation reads: that task's block (scoring keys left out)."""
    from maple.tasks import get_task
    from maple.tasks.spec import MULTIPLE_CHOICE

    evaluation = config["evaluation"]
    picked = {k: evaluation[k] for k in GENERATION_KEYS if k in evaluation}
    picked.update({k: sorted(picked[k]) for k in UNORDERED_EVALUATION if k in picked})
    if get_task(task).kind == MULTIPLE_CHOICE:
        picked["loglikelihood"] = evaluation["loglikelihood"]
    task_cfg = {k: v for k, v in evaluation["tasks"][task].items() if k not in SCORING_KEYS}
    task_cfg.update({k: sorted(task_cfg[k]) for k in UNORDERED_TASK if k in task_cfg})
    picked["tasks"] = {task: task_cfg}
    return {"evaluation": picked, "effective": effective(config, task), **_common(config)}


def effective(config: dict, task: str) -> dict:
    """Per protocol and language, the settings the task's requests are built with (the spec's
    defaults resolved with the config's overrides): a spec default edit changes them, and reruns."""
    from dataclasses import asdict

    from maple.tasks import get_task
    from maple.tasks.spec import effective_settings

    spec, task_cfg = get_task(task), config["evaluation"]["tasks"][task]
    return {protocol: {lang: asdict(effective_settings(spec, lang, protocol, task_cfg)) for lang in task_cfg["languages"]}
            for protocol in config["evaluation"]["protocols"]}


def generation_params(config: dict, task: str) -> dict:
    return canonical(generation_settings(config, task))


def training_params(config: dict, cell) -> dict:
    """One cell's training settings (defaults < per dataset < per cell), canonical."""
    from maple import grid

    settings = grid.training_config(config, cell)
    settings.update({k: sorted(settings[k]) for k in UNORDERED_TRAINING if isinstance(settings.get(k), list)})
    return canonical(settings)


def model_params(config: dict, name: str) -> dict:
    return canonical(_model(config, name))


def judge_params(config: dict) -> dict:
    """Judge, judge model and serving settings; nothing of the tasks or their generation."""
    judge = config["evaluation"]["judge"]
    api = judge.get("api")
    evaluation = config["evaluation"]
    settings = {
        "evaluation": {"backend": judge.get("backend") or evaluation["backend"], "max_model_len": evaluation["max_model_len"]},
        **_common(config),
    }
    if api:  # an API judge reads no local model and no finetuning template
        settings.pop("prompt")
    return canonical(
        # no judge model without alpaca_eval (the config check asks for one when it is evaluated)
        {"judge": judge, "judge_model": _model(config, judge["model"]) if judge.get("model") and not api else None,
         "settings": settings}
    )


def scoring_params(config: dict, task: str) -> dict:
    """What scoring one task reads: its scoring options and the backend (a column of the rows)."""
    evaluation = config["evaluation"]
    options = {k: evaluation["tasks"][task][k] for k in SCORING_KEYS if k in evaluation["tasks"][task]}
    return canonical({"evaluation": {"backend": evaluation["backend"]}, **options})


def code_digest(parts=SCORING_CODE, root: Path = PACKAGE) -> str:
    """SHA-1 of the source files under `parts`: editing a metric reruns scoring, nothing else.
    Snakemake itself only tracks the mtime of the rule's thin script."""
    digest = hashlib.sha1()
    for part in parts:
        path = root / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def split_overrides(config: dict) -> dict:
    """What the tiny models' contamination exclusion reads of the tasks: their `split` overrides only
    (maple.data.contamination), so adding a language or a scoring option does not rebuild the models."""
    tasks = config["evaluation"]["tasks"]
    return canonical({name: {"split": cfg["split"]} for name, cfg in tasks.items() if cfg.get("split")})


def file_list(files) -> list[str]:
    """A list of files as a param (e.g. the score files an aggregate expects), sorted: the config's
    task order is not the aggregate's, and its reordering must not rerun the report."""
    return sorted(files)
