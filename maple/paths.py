"""Every path pattern of the workflow, once. Patterns use Snakemake wildcard syntax."""

from __future__ import annotations

import os

from maple.grid import CELL_JOB, CELL_TASK_JOB, CELL_TASKS_JOB, GROUP_JOB, GROUP_TASK_JOB, TRAINED_ID

RESULTS = "results"

TINY_MODEL = "resources/models/{model}"
DOWNLOAD_MODEL = RESULTS + "/downloads/models/{model}.json"  # what download_model fetched (commit, path)
DOWNLOAD_EVAL = RESULTS + "/downloads/eval/{task}.json"
RAW_DATA = RESULTS + "/raw/{dataset}"
TOKENISED = RESULTS + "/tokenised/{dataset}/{model}"
CHECKPOINTS = RESULTS + "/checkpoints/" + TRAINED_ID
ADAPTER = RESULTS + "/adapters/" + TRAINED_ID
MERGED = RESULTS + "/merged/" + TRAINED_ID
REQUESTS = RESULTS + "/requests/{model}/{task}.jsonl"  # one task's requests, built once per model (device cuda)
REQUEST_IDS = RESULTS + "/requests/{model}/{task}.ids.npz"  # their prompts' token ids (maple.generate.prebuilt)
OUTPUTS = RESULTS + "/outputs/" + CELL_TASK_JOB + ".jsonl"
GROUP_OUTPUTS = RESULTS + "/generations/" + GROUP_TASK_JOB  # multi_lora: one dir per job
TASK_GROUP_OUTPUTS = RESULTS + "/generations/" + CELL_TASKS_JOB  # evaluation.task_groups: one dir per job
SCORES = RESULTS + "/scores/" + CELL_TASK_JOB + ".json"
EXAMPLE_SCORES = RESULTS + "/scores/" + CELL_TASK_JOB + ".examples.jsonl"
JUDGEMENTS = RESULTS + "/judgements/" + CELL_JOB + ".jsonl"
GROUP_JUDGEMENTS = RESULTS + "/judgements/" + GROUP_JOB  # multi_lora: one dir per judge job
SERVED_CHECK = RESULTS + "/served_checks/" + CELL_JOB + ".json"  # is the served model the trained one (maple.generate.check)
GROUP_SERVED_CHECKS = RESULTS + "/served_checks/" + GROUP_JOB  # multi_lora: one dir per check job
TIDY_PARQUET = RESULTS + "/scores.parquet"
TIDY_CSV = RESULTS + "/scores.csv"
MISSING = RESULTS + "/missing_cells.json"
AVERAGES = RESULTS + "/averages.csv"  # averages over languages / tasks with stratified bootstrap intervals
COMPARISONS = RESULTS + "/comparisons.csv"  # paired bootstrap tests of the paper's comparisons
LM_EVAL = RESULTS + "/lm_eval/{cell}.json"  # one cell's scores in lm-evaluation-harness's layout
TABLES = RESULTS + "/tables"
FIGURES = "figures"
FIGURE_PNG = FIGURES + "/{stem}_{protocol}.png"
FIGURE_PDF = FIGURES + "/{stem}_{protocol}.pdf"
FIGURE_CSV = FIGURES + "/{stem}_{protocol}.csv"  # the data frame the figure plots
REPORT = RESULTS + "/report.html"
TABLE_NAMES = ("table1.csv", "table1.md", "table2.csv", "table2.md", "reproduction.csv")


def table_files(out_dir: str = TABLES) -> list[str]:
    return [f"{out_dir}/{name}" for name in TABLE_NAMES]


def figure_pngs(protocols: list[str], out_dir: str = FIGURES) -> list[str]:
    """Every figure's PNG (its PDF lies beside it), in the order make_figures writes them."""
    from maple.report.figure_names import STEMS  # no matplotlib: fine at parse time

    return [f"{out_dir}/{stem}_{protocol}.png" for protocol in protocols for stem in STEMS.values()]


LOCAL_ROOTS = ("resources", "results", "tests")  # the workflow's own directories


def is_local(path: str) -> bool:
    """A path rather than a hub id ("owner/name"): the one rule for models, datasets and tasks. A
    path exists as a directory, is written as one (./, ../, /, ~, two or more slashes), or starts
    with one of the workflow's own directories."""
    return (os.path.isdir(path) or path.startswith((".", "/", "~")) or path.count("/") >= 2
            or path.split("/")[0] in LOCAL_ROOTS)


def log(rule: str, wildcards: str = "all") -> str:
    return f"logs/{rule}/{wildcards}.log"


def benchmark(rule: str, wildcards: str = "all") -> str:
    return f"benchmarks/{rule}/{wildcards}.tsv"


def fill(pattern: str, **wildcards) -> str:
    return pattern.format(**wildcards)


def adapter_dir(cell) -> str:
    return fill(ADAPTER, **cell.fields)


def merged_dir(cell) -> str:
    return fill(MERGED, **cell.fields)


def requests_file(model: str, task: str) -> str:
    return fill(REQUESTS, model=model, task=task)


def request_ids_file(model: str, task: str) -> str:
    return fill(REQUEST_IDS, model=model, task=task)


def outputs_file(cell, task: str) -> str:
    return fill(OUTPUTS, cell=cell.id, task=task)


def group_outputs_dir(model: str, rank: int, task: str) -> str:
    return fill(GROUP_OUTPUTS, model=model, rank=rank, task=task)


def task_group_dir(cell, tasks: str) -> str:
    return fill(TASK_GROUP_OUTPUTS, cell=cell.id, tasks=tasks)


def group_member_file(group_dir: str, cell, task: str) -> str:
    """Where a multi_lora job puts one cell's outputs inside its group directory."""
    # the rank is part of it: on CPU one group serves every rank of a model (grid.group_rank);
    # the base cell is a member too (none/base), served without adapter
    return f"{group_dir}/{cell.member}/{task}.jsonl"


def served_check_file(cell) -> str:
    return fill(SERVED_CHECK, cell=cell.id)


def group_served_check_file(group_dir: str, cell) -> str:
    """Where a multi_lora check job puts one cell's check inside its group directory."""
    return f"{group_dir}/{cell.member}.json"


def scores_file(cell, task: str) -> str:
    return fill(SCORES, cell=cell.id, task=task)


def example_scores_file(cell, task: str) -> str:
    return fill(EXAMPLE_SCORES, cell=cell.id, task=task)


def lm_eval_file(cell) -> str:
    return fill(LM_EVAL, cell=cell.id)
