"""Cells of the study grid. Pure functions on the config dict: no heavy imports, no file reads."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass

BASE = "base"
NO_DATASET = "none"

# Regexes for Snakemake wildcard_constraints (model and dataset keys are validated by the schema).
WILDCARD_CONSTRAINTS = {
    "model": r"[A-Za-z0-9][A-Za-z0-9._-]*",
    "dataset": r"[A-Za-z0-9][A-Za-z0-9._-]*",
    "rank": r"\d+",
    "bits": r"4|8|16",
    "cell": r"[A-Za-z0-9._-]+/(none/base|[A-Za-z0-9._-]+/r\d+-b(4|8|16))",
    "trained_cell": r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/r\d+-b(4|8|16)",
    "task": r"[a-z_]+",
}


def wildcard_constraints(config: dict) -> dict:
    """Constraints that only match names defined in the config (keeps path patterns unambiguous)."""
    import re

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
        if self.is_base:
            return f"{self.model}/{NO_DATASET}/{BASE}"
        return f"{self.model}/{self.dataset}/r{self.rank}-b{self.bits}"

    def __str__(self) -> str:
        return self.id


def parse_cell(cell_id: str) -> Cell:
    """Inverse of Cell.id."""
    model, dataset, tail = cell_id.split("/")
    if dataset == NO_DATASET:
        return Cell(model)
    rank, bits = tail[1:].split("-b")
    return Cell(model, dataset, int(rank), int(bits))


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


def training_config(config: dict, cell: Cell) -> dict:
    """Training hyperparameters of one cell: defaults < per-dataset < per-cell overrides."""
    training = config["training"]
    defaults = {k: v for k, v in training.items() if k not in ("per_dataset", "per_cell")}
    merged = _deep_update(defaults, training["per_dataset"].get(cell.dataset, {}))
    merged = _deep_update(merged, training["per_cell"].get(cell.id, {}))
    merged.update(rank=cell.rank, bits=cell.bits, seed=config["seed"])
    return merged


def lora_servable(config: dict, cell: Cell) -> bool:
    """Whether multi_lora mode serves this cell by a LoRA request on its group's 16-bit base. Not
    4/8-bit cells on CUDA: that base is not the precision they were trained at, so they go to
    merged mode. On CPU vLLM loads no bitsandbytes model: they stay (served_as says so)."""
    return not (cell.bits in (4, 8) and config["device"] == "cuda")


def serving_mode(config: dict, cell: Cell) -> str:
    """How a cell's outputs are generated: `merged` (its own checkpoint, a job per cell and task) or
    `multi_lora` (a LoRA request on its (model, rank) group's base). Base models keep the
    configured mode (their outputs are per cell in both)."""
    mode = config["evaluation"]["mode"]
    if mode == "multi_lora" and not cell.is_base and not lora_servable(config, cell):
        return "merged"
    return mode


def group_rank(config: dict, cell: Cell) -> int:
    """The rank naming the multi_lora group that serves `cell`. On CUDA each rank is its own group:
    vLLM runs every adapter of an engine at its max_lora_rank, so a rank-8 adapter beside rank-128
    ones would pay for rank 128. On CPU (tiny models) one group per model, named by its largest rank:
    an engine load costs more than the padding, and zero-padded LoRA weights change no output
    (tests/test_generate.py)."""
    if config["device"] == "cuda":
        return cell.rank
    return max(c.rank for c in training_cells(config) if c.model == cell.model and lora_servable(config, c))


def generation_groups(config: dict) -> dict[str, list[Cell]]:
    """multi_lora mode serves one base per job: the cells it serves by LoRA, grouped by model and
    group_rank (rank on CUDA; one group per model on CPU)."""
    groups: dict[str, list[Cell]] = {}
    for cell in training_cells(config):
        if lora_servable(config, cell):
            groups.setdefault(group_id(cell, group_rank(config, cell)), []).append(cell)
    return groups


def per_cell_generation_constraint(config: dict) -> str:
    """The `cell` wildcard of the per-cell generation and judging rules: the cells serving_mode does
    not serve by LoRA (every cell in merged mode; base models and routed cells in multi_lora)."""
    if config["evaluation"]["mode"] == "merged":
        return WILDCARD_CONSTRAINTS["cell"]
    own = [c.id for c in eval_cells(config) if c.is_base or serving_mode(config, c) == "merged"]
    return "|".join(re.escape(i) for i in own) or r"(?!)"  # (?!) matches nothing


def group_id(cell: Cell, rank: int | None = None) -> str:
    return f"{cell.model}/lora-r{cell.rank if rank is None else rank}"


def resources(config: dict, rule: str) -> dict:
    """Declared resources of a rule (defaults < per-rule), for Snakemake and the SLURM profile."""
    res = config["resources"]
    return {**res.get("default", {}), **res.get(rule, {})}  # a rule absent from the map declares nothing
