"""Which `training:` keys go where: maple's own, TrainingArguments', and those maple sets itself.

Checked when the config is validated, so a typo fails in one line before any job starts, not after
a 7B model has loaded on every cell's GPU job. No transformers import: the field names are read
from the installed transformers source (parse time must stay light).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

from maple.grid import OVERRIDE_SECTIONS

# Keys of the training config that maple reads itself (LoRA, packing, test switch, overrides).
MAPLE_KEYS = {"lora_alpha", "lora_dropout", "target_modules", "fail", "warmup_ratio", "packing",
              "speed",  # maple.train.levers: per bits/rank speed settings
              "gradient_checkpointing"}  # applied by maple.train.lora (full or selective), not by Trainer
# TrainingArguments fields maple sets from elsewhere; a config value for them would be ignored or clash.
SET_BY_MAPLE = {
    "output_dir": "the cell's checkpoint directory",
    "warmup_steps": "training.warmup_ratio",
    "seed": "the top-level seed",
    "data_seed": "the top-level seed",
    "use_cpu": "device",
    "bf16": "device",
    "fp16": "device",
    "full_determinism": "device",
    "remove_unused_columns": "the tokenised data's columns",
    "save_strategy": "save_steps (checkpoints make jobs resumable)",
    "save_only_model": "resumable checkpoints",
    "dataloader_num_workers": "deterministic data order",
    "include_num_input_tokens_seen": "the tokens_seen record",
}


@functools.lru_cache(maxsize=1)
def trainer_argument_names() -> frozenset[str]:
    """The dataclass fields of the installed transformers' TrainingArguments."""
    spec = importlib.util.find_spec("transformers")
    source = Path(spec.origin).parent / "training_args.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrainingArguments")
    return frozenset(n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name))


def _check_keys(where: str, keys) -> None:
    trainer = trainer_argument_names()
    for key in keys:
        if key in SET_BY_MAPLE:
            raise ValueError(f"{where}.{key}: set by maple from {SET_BY_MAPLE[key]}; remove it from the config")
        if key not in MAPLE_KEYS and key not in trainer:
            raise ValueError(
                f"{where}: unknown key {key!r}; allowed: maple's {', '.join(sorted(MAPLE_KEYS))} "
                "or a transformers TrainingArguments field"
            )


def check_training(training: dict) -> None:
    """Raise ValueError (one line) for a key neither maple nor TrainingArguments knows, or one maple sets."""
    _check_keys("training", [k for k in training if k not in OVERRIDE_SECTIONS])
    for section in OVERRIDE_SECTIONS:
        for name, override in (training.get(section) or {}).items():
            _check_keys(f"training.{section}.{name}", override or {})


def trainer_kwargs(train_cfg: dict) -> dict:
    """The TrainingArguments keyword arguments a cell's training config gives."""
    return {k: v for k, v in train_cfg.items() if k not in MAPLE_KEYS | {"rank", "bits", "seed"}}
