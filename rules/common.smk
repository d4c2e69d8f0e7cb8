# Config validation, grid, paths and input functions. No heavy imports: every cluster job re-parses this.
import os
import sys

from snakemake.utils import min_version

from maple import config as maple_config
from maple import grid, paths

min_version("9.0")

try:
    maple_config.validate(config, ".")  # local paths are relative to the working directory
except maple_config.ConfigError as err:
    sys.exit(f"maple: config error: {err}")

CELLS = grid.training_cells(config)
BASES = grid.base_cells(config)
EVAL_CELLS = CELLS + BASES
TASKS = grid.tasks(config)
MODE = config["evaluation"].get("mode", "multi_lora")
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
