# Config validation, grid, paths and input functions. No heavy imports: every cluster job re-parses this.
import os
import sys

from snakemake.utils import min_version

from maple import config as maple_config
from maple import grid, paths
from maple.report import figure_names

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
MODE = config["evaluation"].get("mode", "multi_lora")
PROTOCOLS = config["evaluation"].get("protocols", ["megaverse", "reference"])
FIGURES = figure_names.STEMS
FIGURE_PNGS = paths.figure_pngs(PROTOCOLS)
TABLE_FILES = paths.table_files()

DEVICE = config.get("device", "cpu")


wildcard_constraints:
    **grid.wildcard_constraints(config),


def res(rule_name, key, default=None):
    return grid.resources(config, rule_name).get(key, default)


def mem_on_attempt(rule_name):
    """Memory grows on each retry so that an OOM-killed job comes back with more."""
    factor = grid.resources(config, rule_name).get("mem_mb_per_retry", 1.5)
    base = res(rule_name, "mem_mb", 2000)
    return lambda wildcards, attempt: int(base * factor ** (attempt - 1))


def cell_of(wildcards):
    if "cell" in wildcards.keys():
        return grid.parse_cell(wildcards.cell)
    return grid.Cell(
        wildcards.model, wildcards.dataset, int(wildcards.rank), int(wildcards.bits)
    )


def model_inputs(model):
    """A model the workflow builds itself is an input; a hub model is not a file."""
    if "build" in config["models"][model]:
        return paths.fill(paths.TINY_MODEL, model=model)
    return []


def final_targets():
    targets = [paths.adapter_dir(c) for c in CELLS]
    if config.get("merge", {}).get("keep", True):
        targets += [paths.merged_dir(c) for c in CELLS]
    targets += [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    targets += report_targets()
    return targets


def eval_params():
    return {
        "evaluation": config["evaluation"],
        "prompt": config["prompt"],
        "seed": config["seed"],
        "device": DEVICE,
        "trust_remote_code": config.get("trust_remote_code", False),
    }


def generation_inputs(wildcards):
    cell = grid.parse_cell(wildcards.cell)
    if cell.is_base:
        return model_inputs(cell.model)
    return paths.merged_dir(cell)


def group_cells(wildcards):
    return grid.generation_groups(config)[f"{wildcards.model}/lora-r{wildcards.rank}"]


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


def bootstrap_params():
    """Resamples, confidence and seed of every interval and paired test."""
    from maple.score_cell import bootstrap_settings

    return bootstrap_settings(config)


def judge_params():
    judge = config["evaluation"].get("judge", {})
    return {"judge": judge, "judge_model": config["models"].get(judge.get("model"), {})}


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


def score_files(wildcards):
    """Every cell's scores; with partial_report, only those that exist (after failed cells)."""
    files = [paths.scores_file(c, t) for c in EVAL_CELLS for t in TASKS]
    # --config gives a string
    if str(config.get("partial_report", False)).lower() == "true":
        return [f for f in files if os.path.exists(f)]
    return files
