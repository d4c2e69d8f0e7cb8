# Config validation, grid, paths and input functions. No heavy imports: every cluster job re-parses this.
import os
import sys

from snakemake.utils import min_version

from maple import config as maple_config
from maple import grid, hub, job_params, paths, resources
from maple.generate.check import probe_task
from maple.report import figure_names
from maple.tasks import judged_task

min_version("9.0")

try:
    # local paths are relative to the working directory
    maple_config.validate(config, ".")
except maple_config.ConfigError as err:
    sys.exit(f"maple: config error: {err}")

CELLS = grid.training_cells(config)
BASES = grid.base_cells(config)
EVAL_CELLS = CELLS + BASES
TASKS = grid.tasks(config)
PROBE_TASK = probe_task(TASKS)  # the task whose outputs the served-model check samples
# the task the judge rules read (AlpacaEval), by its spec's kind
JUDGED_TASK = judged_task(TASKS)
MODE = config["evaluation"]["mode"]
PROTOCOLS = config["evaluation"]["protocols"]
FIGURES = figure_names.STEMS
FIGURE_PNGS = paths.figure_pngs(PROTOCOLS)
TABLE_FILES = paths.table_files()

DEVICE = config["device"]
# hub repositories fetched on the submit host (rules/download.smk); none for local sources
HUB_MODELS = hub.model_repos(config)
HUB_EVAL_TASKS = [t for t in TASKS if hub.eval_repos(config, t)]


wildcard_constraints:
    **grid.wildcard_constraints(config),


def res(rule_name, key):
    return resources.declared(config, rule_name)[key]


def rule_resources(rule_name):
    """A rule's resources from maple.resources (the one table); memory grows on each retry so
    that an OOM-killed job comes back with more."""
    need = resources.declared(config, rule_name)
    base, factor = need["mem_mb"], need["mem_mb_per_retry"]
    return {
        "mem_mb": lambda wildcards, attempt: int(base * factor ** (attempt - 1)),
        "runtime": need["runtime"],
        "gpu": need["gpu"],
    }


def cell_of(wildcards):
    if "cell" in wildcards.keys():
        return grid.parse_cell(wildcards.cell)
    return grid.Cell(
        wildcards.model, wildcards.dataset, int(wildcards.rank), int(wildcards.bits)
    )


def model_inputs(model):
    """A model the workflow builds itself is an input; a hub model's snapshot record (download_model)."""
    if "build" in config["models"][model]:
        return paths.fill(paths.TINY_MODEL, model=model)
    if model in HUB_MODELS:
        return paths.fill(paths.DOWNLOAD_MODEL, model=model)
    return []


def eval_downloads(wildcards=None):
    """The snapshot records of the evaluation datasets on the hub (download_eval)."""
    return [paths.fill(paths.DOWNLOAD_EVAL, task=t) for t in HUB_EVAL_TASKS]


def final_targets():
    targets = [paths.adapter_dir(c) for c in CELLS]
    if config["merge"]["keep"]:
        targets += [paths.merged_dir(c) for c in CELLS]
    targets += [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    targets += report_targets()
    return targets


def generation_inputs(wildcards):
    cell = grid.parse_cell(wildcards.cell)
    model = model_inputs(cell.model) if cell.is_base else paths.merged_dir(cell)
    return {
        "model": model,
        "evals": eval_downloads(),
        "requests": prebuilt_requests(cell.model, wildcards.task),
    }


def task_group_generation_inputs(wildcards):
    """A task group's job: the cell's served model, the evaluation data, each task's prebuilt requests."""
    cell = grid.parse_cell(wildcards.cell)
    model = model_inputs(cell.model) if cell.is_base else paths.merged_dir(cell)
    requests = [
        f for t in wildcards.tasks.split("+") for f in prebuilt_requests(cell.model, t)
    ]
    return {"model": model, "evals": eval_downloads(), "requests": requests}


def prebuilt_requests(model, task):
    """The model's prebuilt requests of one task and their token ids, where the config builds them once
    (grid.prebuilds_requests)."""
    if not grid.prebuilds_requests(config):
        return []
    return [paths.requests_file(model, task), paths.request_ids_file(model, task)]


def serving_mode(cell):
    return grid.serving_mode(config, cell)


def group_cells(wildcards):
    """The cells a group job serves: its adapters' cells, and the model's base cell in its lowest-rank group."""
    return grid.generation_groups(config)[
        grid.GROUP_ID.format(model=wildcards.model, rank=wildcards.rank)
    ]


def group_adapters(wildcards):
    return [paths.adapter_dir(c) for c in group_cells(wildcards) if not c.is_base]


def raw_output(cell, task):
    """The file, multi_lora group directory or task group directory holding one cell's raw generations
    of one task (a base cell's too: its model's lowest-rank group serves it, grid.group_rank).
    """
    if serving_mode(cell) == "multi_lora":
        return paths.group_outputs_dir(cell.model, grid.group_rank(config, cell), task)
    job = grid.task_job(config, task)
    if job != task:  # evaluation.task_groups: the group's directory
        return paths.task_group_dir(cell, job)
    return paths.outputs_file(cell, task)


def served_check_base(model):
    """The base model's outputs for the served-model check: its base cell's probe-task outputs when
    the grid evaluates it (else the check decodes its sample with the base)."""
    base = grid.Cell(model)
    return [raw_output(base, PROBE_TASK)] if base in BASES else []


def served_check_output(cell):
    """The file or multi_lora group directory holding one finetuned cell's served-model check."""
    if serving_mode(cell) == "multi_lora":
        return paths.fill(
            paths.GROUP_SERVED_CHECKS,
            model=cell.model,
            rank=grid.group_rank(config, cell),
        )
    return paths.served_check_file(cell)


def judge_inputs(wildcards):
    if wildcards.task != JUDGED_TASK:
        return []
    cell = grid.parse_cell(wildcards.cell)
    if serving_mode(cell) == "multi_lora":
        return paths.fill(
            paths.GROUP_JUDGEMENTS, model=cell.model, rank=grid.group_rank(config, cell)
        )
    return paths.fill(paths.JUDGEMENTS, cell=wildcards.cell)


def judge_model_inputs(wildcards):
    judge = config["evaluation"]["judge"]
    return [] if judge["api"] else model_inputs(judge["model"])


def bootstrap_params():
    """Resamples, confidence and seed of every interval and paired test."""
    from maple.score_cell import bootstrap_settings

    return bootstrap_settings(config)


def report_targets():
    return [
        paths.TIDY_CSV,
        paths.COMPARISONS,
        *[paths.lm_eval_file(c) for c in EVAL_CELLS],
        *TABLE_FILES,
        *FIGURE_PNGS,
        paths.REPORT,
    ]


def example_files(wildcards):
    """Every cell's per-example scores; with partial_report, only those that exist."""
    files = [paths.example_scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    if str(config.get("partial_report", False)).lower() == "true":
        return [f for f in files if os.path.exists(f)]
    return files


def served_check_files(wildcards):
    """Every finetuned cell's served-model check (a multi_lora group's directory holds its cells');
    with partial_report, only those that exist."""
    files = list(dict.fromkeys(served_check_output(c) for c in CELLS))
    if str(config["partial_report"]).lower() == "true":
        return [f for f in files if os.path.exists(f)]
    return files


def score_files(wildcards):
    """Every cell's scores; with partial_report, only those that exist (after failed cells)."""
    files = [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    # --config gives a string
    if str(config["partial_report"]).lower() == "true":
        return [f for f in files if os.path.exists(f)]
    return files
