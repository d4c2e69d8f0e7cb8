"""Cells of the study grid. Pure functions on the config dict: no heavy imports, no file reads."""

from __future__ import annotations

import copy
import itertools
import re
import string
from dataclasses import dataclass

BASE = "base"
NO_DATASET = "none"

# The cell codec, spelled once: a cell's id, a multi_lora group's id and the wildcard layouts of
# every job (log and benchmark paths). paths.py and rules/ build from these; parse_cell and
# parse_job invert them with regexes derived from the same strings.
MEMBER_ID = "{dataset}/r{rank}-b{bits}"  # a cell inside its multi_lora group's directory (the group names the model)
BASE_MEMBER_ID = NO_DATASET + "/" + BASE  # the base model inside its model's group directory
TRAINED_ID = "{model}/" + MEMBER_ID
BASE_ID = "{model}/" + BASE_MEMBER_ID
GROUP_ID = "{model}/lora-r{rank}"
CELL_JOB = "{cell}"  # judge_alpaca_eval, export_lm_eval
CELL_TASK_JOB = "{cell}/{task}"  # generate_outputs, score_outputs
GROUP_JOB = GROUP_ID  # judge_group_alpaca_eval
GROUP_TASK_JOB = GROUP_ID + "/{task}"  # generate_group_outputs
CELL_TASKS_JOB = "{cell}/{tasks}"  # generate_task_group_outputs: evaluation.task_groups, e.g. xcopa+xquad

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_FIELDS = {"model": _NAME, "dataset": _NAME, "rank": r"\d+", "bits": r"4|8|16", "task": r"[a-z_]+",
           "tasks": r"[a-z_]+(?:\+[a-z_]+)+"}


def _regex(layout: str, named: bool = True) -> str:
    """A layout's regex: literal text escaped, each {field} its constraint (a named group if named)."""
    out = ""
    for literal, field, _, _ in string.Formatter().parse(layout):
        out += re.escape(literal)
        if field:
            body = _FIELDS[field] if field != "cell" else _CELL
            out += f"(?P<{field}>{body})" if named else f"(?:{body})"
    return out


_CELL = "|".join(f"(?:{_regex(layout, named=False)})" for layout in (BASE_ID, TRAINED_ID))

# Regexes for Snakemake wildcard_constraints (model and dataset keys are validated by the schema).
_TRAINED_CELL = _regex(TRAINED_ID, named=False)
WILDCARD_CONSTRAINTS = {**_FIELDS, "cell": _CELL, "trained_cell": _TRAINED_CELL}


def wildcard_constraints(config: dict) -> dict:
    """Constraints that only match names defined in the config (keeps path patterns unambiguous)."""

    def one_of(names):
        return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))

    out = dict(WILDCARD_CONSTRAINTS)
    out["model"] = one_of(config["models"])
    out["dataset"] = one_of(config["datasets"])
    return out


@dataclass(frozen=True, order=True)
class Cell:
    """One finetuning run, or an un-finetuned base model (dataset 'none')."""

    model: str
    dataset: str = NO_DATASET
    rank: int | None = None
    bits: int | None = None

    @property
    def is_base(self) -> bool:
        return self.dataset == NO_DATASET

    @property
    def id(self) -> str:
        return (BASE_ID if self.is_base else TRAINED_ID).format(**self.__dict__)

    @property
    def member(self) -> str:
        """The cell's id inside its multi_lora group's directory (the group names the model)."""
        return (BASE_MEMBER_ID if self.is_base else MEMBER_ID).format(**self.__dict__)

    @property
    def fields(self) -> dict:
        """The cell's columns of every table row (scores, averages, cost) and its path fields."""
        return {"cell": self.id, "model": self.model, "dataset": self.dataset, "rank": self.rank, "bits": self.bits}

    def __str__(self) -> str:
        return self.id


# a job's task: one task, or an evaluation.task_groups key (CELL_TASKS_JOB), whose job makes them all
_PARSERS = [(re.compile(f"^{_regex(layout)}(?:/(?P<task>{_FIELDS['task']}(?:\\+{_FIELDS['task']})*))?$"), kind)
            for layout, kind in ((BASE_ID, "cell"), (TRAINED_ID, "cell"), (GROUP_ID, "group"))]


@dataclass(frozen=True)
class JobKey:
    """What a job's wildcards name: a cell or a multi_lora group (its model and rank), and a task
    (None for a job of the whole cell or group)."""

    cell: Cell | None
    group: str | None
    task: str | None
    model: str = ""
    rank: int | None = None

    @property
    def unit(self) -> str:
        """The cell id, else the group id: what the job's cost is charged to."""
        return self.cell.id if self.cell else self.group


def parse_job(wildcards: str) -> JobKey | None:
    """Inverse of the job layouts ({cell}, {cell}/{task}, {cell}/{tasks}, group, group/{task}); None for
    other jobs. A task group's job keeps its key (`xnli+xcopa`) as its task."""
    for regex, kind in _PARSERS:
        m = regex.match(wildcards)
        if not m:
            continue
        f = m.groupdict()
        if kind == "group":
            return JobKey(None, GROUP_ID.format(**f), f["task"], f["model"], int(f["rank"]))
        cell = Cell(f["model"], f["dataset"], int(f["rank"]), int(f["bits"])) if "bits" in f else Cell(f["model"])
        return JobKey(cell, None, f["task"], cell.model, cell.rank)
    return None


def parse_cell(cell_id: str) -> Cell:
    """Inverse of Cell.id."""
    key = parse_job(cell_id)
    if key is None or key.cell is None or key.task is not None:
        raise ValueError(f"not a cell id: {cell_id!r} (model/dataset/r<rank>-b<bits> or model/{NO_DATASET}/{BASE})")
    return key.cell


def cell_of(model, dataset, rank, bits) -> str:
    """Cell id from table fields, whose rank and bits may be missing (None, NaN or pandas NA)."""
    if not dataset or dataset == NO_DATASET:
        return Cell(model).id
    return Cell(model, dataset, _opt_int(rank), _opt_int(bits)).id


def _opt_int(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):  # None, pandas NA
        return None
    return None if number != number else int(number)


def training_cells(config: dict) -> list[Cell]:
    """The union of the grid blocks' cross products, sorted, without duplicates."""
    cells = set()
    for block in config["grid"]:
        for m, d, r, b in itertools.product(
            block["models"], block["datasets"], block["ranks"], block["bits"]
        ):
            cells.add(Cell(m, d, int(r), int(b)))
    return sorted(cells)


def base_cells(config: dict) -> list[Cell]:
    if not config["evaluate_base_models"]:
        return []
    models = sorted({m for block in config["grid"] for m in block["models"]})
    return [Cell(m) for m in models]


def eval_cells(config: dict) -> list[Cell]:
    return training_cells(config) + base_cells(config)


def tasks(config: dict) -> list[str]:
    return list(config["evaluation"]["tasks"])


def _deep_update(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


OVERRIDE_SECTIONS = ("per_dataset", "per_cell")  # training overrides keyed by dataset / cell id


def training_config(config: dict, cell: Cell) -> dict:
    """Training hyperparameters of one cell: defaults < per-dataset < per-cell overrides."""
    training = config["training"]
    defaults = {k: v for k, v in training.items() if k not in OVERRIDE_SECTIONS}
    merged = _deep_update(defaults, training["per_dataset"].get(cell.dataset, {}))
    merged = _deep_update(merged, training["per_cell"].get(cell.id, {}))
    merged.update(rank=cell.rank, bits=cell.bits, seed=config["seed"])
    return merged


def prebuilds_requests(config: dict) -> bool:
    """Whether each task's requests are built once per model on a CPU job (rule build_requests) for
    every generation job to read: on CUDA, where building them in the job would idle its GPU
    (maple.generate.prebuilt); on CPU each job builds its own, one job fewer per model and task."""
    return config["device"] == "cuda"


def lora_servable(config: dict, cell: Cell) -> bool:
    """Whether multi_lora mode serves this cell by a LoRA request on its group's 16-bit base. Not
    4/8-bit cells on CUDA: that base is not the precision they were trained at, so they go to
    merged mode. On CPU vLLM loads no bitsandbytes model: they stay (served_as says so)."""
    return not (cell.bits in (4, 8) and config["device"] == "cuda")


def serving_mode(config: dict, cell: Cell) -> str:
    """How a cell's outputs are generated: `merged` (its own checkpoint, or the base model's, a job
    per cell and task) or `multi_lora` (by its (model, rank) group's job: a LoRA request on the
    group's base, or for the base cell a request without adapter on the same engine)."""
    mode = config["evaluation"]["mode"]
    if mode == "multi_lora" and not _grouped(config, cell):
        return "merged"
    return mode


def _grouped(config: dict, cell: Cell) -> bool:
    """Whether multi_lora mode generates the cell in a group job: every LoRA-servable cell, and the
    base cell of a model that has a group."""
    return group_rank(config, cell) is not None if cell.is_base else lora_servable(config, cell)


def group_rank(config: dict, cell: Cell) -> int | None:
    """The rank naming the multi_lora group that serves `cell`. On CUDA each rank is its own group:
    vLLM runs every adapter of an engine at its max_lora_rank, so a rank-8 adapter beside rank-128
    ones would pay for rank 128. On CPU (tiny models) one group per model, named by its largest rank:
    an engine load costs more than the padding, and zero-padded LoRA weights change no output
    (tests/test_generate.py). A base cell is served, without adapter, by its model's group of the
    lowest rank (None: the model has no group, the base gets its own jobs)."""
    if cell.is_base:
        ranks = {group_rank(config, c) for c in training_cells(config) if c.model == cell.model
                 and lora_servable(config, c)}
        return min(ranks) if ranks else None
    if config["device"] == "cuda":
        return cell.rank
    return max(c.rank for c in training_cells(config) if c.model == cell.model and lora_servable(config, c))


def generation_groups(config: dict) -> dict[str, list[Cell]]:
    """multi_lora mode serves one base per job: the cells it serves by LoRA, grouped by model and
    group_rank (rank on CUDA; one group per model on CPU), then the model's base cell (when the grid
    evaluates it) in its lowest-rank group: one engine load per task for the base instead of its own."""
    groups: dict[str, list[Cell]] = {}
    for cell in eval_cells(config):  # trained cells (sorted), then base cells
        if _grouped(config, cell):
            groups.setdefault(group_id(cell, group_rank(config, cell)), []).append(cell)
    return groups


def per_cell_generation_constraint(config: dict) -> str:
    """The `cell` wildcard of the per-cell generation and judging rules: the cells serving_mode does
    not serve in a group (every cell in merged mode; routed cells, and base models of a model
    without a group, in multi_lora)."""
    return _per_cell_constraint(config, eval_cells(config), WILDCARD_CONSTRAINTS["cell"])


def task_groups(config: dict) -> list[tuple[str, ...]]:
    """evaluation.task_groups: the tasks one job generates for a cell served alone (merged or base),
    each group's evaluated tasks only; a group left with one is that task's own job."""
    evaluated = config["evaluation"]["tasks"]
    groups = [tuple(t for t in g if t in evaluated) for g in config["evaluation"].get("task_groups", [])]
    return [g for g in groups if len(g) > 1]


def task_job(config: dict, task: str) -> str:
    """The job key that generates `task` for a cell served alone: its group's (`a+b`), else the task."""
    return next(("+".join(g) for g in task_groups(config) if task in g), task)


def ungrouped_task_constraint(config: dict) -> str:
    """The `task` wildcard of generate_outputs: the tasks that no evaluation.task_groups entry holds."""
    grouped = {t for g in task_groups(config) for t in g}
    own = [t for t in config["evaluation"]["tasks"] if t not in grouped]
    return "|".join(re.escape(t) for t in own) or r"(?!)"


def task_group_constraint(config: dict) -> str:
    """The `tasks` wildcard of generate_task_group_outputs: the configured groups' keys."""
    return "|".join(re.escape("+".join(g)) for g in task_groups(config)) or r"(?!)"


def per_cell_check_constraint(config: dict) -> str:
    """The `cell` wildcard of the per-cell served-model check: the finetuned cells not served in a group."""
    return _per_cell_constraint(config, training_cells(config), WILDCARD_CONSTRAINTS["trained_cell"])


def _per_cell_constraint(config: dict, cells: list[Cell], every: str) -> str:
    if config["evaluation"]["mode"] == "merged":
        return every
    own = [c.id for c in cells if serving_mode(config, c) == "merged"]
    return "|".join(re.escape(i) for i in own) or r"(?!)"  # (?!) matches nothing


def group_id(cell: Cell, rank: int | None = None) -> str:
    return GROUP_ID.format(model=cell.model, rank=cell.rank if rank is None else rank)


def resources(config: dict, rule: str) -> dict:
    """Declared resources of a rule (defaults < per-rule), for Snakemake and the SLURM profile."""
    res = config["resources"]
    return {**res.get("default", {}), **res.get(rule, {})}  # a rule absent from the map declares nothing
