"""Train one cell's LoRA adapter with transformers' Trainer: seeded, checkpointed, resumable."""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import sys
import time
from pathlib import Path

from maple.io import atomic_dir, versions, write_record



class InjectedFailure(ValueError):
    """Raised when the config's `fail` switch is set for a cell (tests of failure isolation)."""


def config_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def training_arguments(train_cfg: dict, output_dir: str, device: str, levers: dict | None = None):
    from transformers import TrainingArguments

    from maple.train.arguments import trainer_kwargs
    from maple.train.levers import resolve

    levers = levers or resolve(train_cfg)
    kwargs = {"report_to": "none", **trainer_kwargs(train_cfg)}  # report_to: training.report_to
    # same examples per optimizer step; the micro-batch is the speed config's choice
    kwargs["per_device_train_batch_size"] = levers["micro_batch_size"]
    kwargs["gradient_accumulation_steps"] = levers["gradient_accumulation_steps"]
    return TrainingArguments(
        output_dir=output_dir,
        warmup_steps=train_cfg.get("warmup_ratio", 0.0),  # a float in [0, 1) is a ratio of total steps
        seed=train_cfg["seed"],
        data_seed=train_cfg["seed"],
        use_cpu=device == "cpu",
        bf16=device == "cuda",
        full_determinism=device == "cpu",
        remove_unused_columns=False,
        save_strategy="steps",
        save_only_model=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,
        **kwargs,
    )


def effective_schedule(args, max_steps: int) -> dict:
    """The learning-rate schedule Trainer really applies: with `constant` it ignores any warm-up
    (transformers' get_constant_schedule takes no warm-up steps), so the record says so."""
    kind = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
    warmup = args.get_warmup_steps(max_steps) if max_steps > 0 else 0
    return {"lr_scheduler_type": kind, "warmup_steps": warmup if kind != "constant" else 0,
            "warmup_configured_steps": warmup, "warmup_applied": kind != "constant" and warmup > 0}


def _prepare_checkpoints(checkpoint_dir: Path, fingerprint: str) -> str | None:
    """The last checkpoint to resume from, if it was written under the same settings."""
    from transformers.trainer_utils import get_last_checkpoint

    stamp = checkpoint_dir / "maple_fingerprint"
    if checkpoint_dir.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
        shutil.rmtree(checkpoint_dir)  # settings changed: old checkpoints belong to another run
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    for partial in checkpoint_dir.glob("checkpoint-*"):
        if not (partial / "trainer_state.json").exists():  # written last: a kill mid-save leaves none
            shutil.rmtree(partial)
    return get_last_checkpoint(str(checkpoint_dir))


def _peak_memory_gib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def load_tokenised(path: str):
    import datasets

    ds = datasets.Dataset.from_parquet(str(Path(path) / "train.parquet"))
    return ds.remove_columns([c for c in ds.column_names if c not in ("input_ids", "attention_mask", "labels")])


def data_collator(tokenizer, packing: bool, varlen: bool = False):
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening

    if packing:
        # one row per batch, position ids restart per example: no cross-example attention;
        # varlen attention also gets the example boundaries (computed here, not on the device)
        return DataCollatorWithFlattening(return_position_ids=True, return_flash_attn_kwargs=varlen)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100, pad_to_multiple_of=8)


def build_trainer(
    model_cfg: dict,
    train_cfg: dict,
    tokenised_dir: str,
    output_dir: str,
    device: str = "cpu",
    trust_remote_code: bool = False,
    callbacks: list | None = None,
):
    """The Trainer of one cell exactly as the train rule runs it, with the cell's speed levers.

    Returns (trainer, levers as applied, trainable parameter counts)."""
    from transformers import Trainer

    from maple.models import load_base_model, load_tokenizer
    from maple.train.levers import plan_memory, resolve
    from maple.train.lora import add_lora, trainable_parameters

    levers = resolve(train_cfg)
    tokenizer = load_tokenizer(model_cfg["path"], model_cfg.get("revision"), trust_remote_code)
    model = load_base_model(
        model_cfg["path"], train_cfg["bits"], device, model_cfg.get("revision"), trust_remote_code,
        attn_implementation=levers["attn_implementation"],
    )
    dataset = load_tokenised(tokenised_dir)
    # the padded micro-batch is at most as long as the longest example: the memory plan's bound
    plan_memory(levers, train_cfg, model.config, seq_len=max(len(r) for r in dataset["input_ids"]))
    model = add_lora(model, train_cfg, levers, device)
    params = trainable_parameters(model)
    trainer = Trainer(
        model=model,
        args=training_arguments(train_cfg, output_dir, device, levers),
        train_dataset=dataset,
        data_collator=data_collator(
            tokenizer, train_cfg.get("packing", False), varlen=levers["attn_implementation"] == "maple_varlen"
        ),
        callbacks=callbacks,
    )
    return trainer, levers, params


def train_adapter(
    cell_id: str,
    model_cfg: dict,
    train_cfg: dict,
    tokenised_dir: str,
    adapter_dir: str,
    checkpoint_dir: str,
    device: str = "cpu",
    trust_remote_code: bool = False,
    callbacks: list | None = None,
) -> dict:
    """Train and save one adapter (LoRA weights only) plus its train.json record.

    A rerun after a crash or kill resumes from the last checkpoint in `checkpoint_dir`."""
    import torch

    from maple.train.levers import LeverWatch, lever_status

    if train_cfg.get("fail"):
        raise InjectedFailure(f"training.fail is set for cell {cell_id}: failing on purpose")
    started = time.time()
    fingerprint = config_hash({"cell": cell_id, "model": model_cfg, "train": train_cfg})
    resume_from = _prepare_checkpoints(Path(checkpoint_dir), fingerprint)
    if resume_from:
        print(f"resuming {cell_id} from {resume_from}", file=sys.stderr)

    torch.manual_seed(train_cfg["seed"])
    trainer, levers, params = build_trainer(
        model_cfg, train_cfg, tokenised_dir, checkpoint_dir, device, trust_remote_code, callbacks
    )
    model = trainer.model
    t0 = time.time()
    with LeverWatch() as watch:
        result = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.time() - t0
    levers["status"] = lever_status(levers, watch)  # a lever that failed or fell back is recorded
    state = trainer.state
    tokens = int(state.num_input_tokens_seen)

    with atomic_dir(adapter_dir) as tmp:
        # only LoRA A/B weights: vLLM multi-LoRA serving rejects saved embeddings / lm_head
        model.save_pretrained(tmp, safe_serialization=True, save_embedding_layers=False)
        record = {
            "cell": cell_id,
            "config": train_cfg,
            "model": model_cfg,
            "device": device,
            "versions": versions(),
            "resumed_from": resume_from,
            "parameters": params,
            "speed": levers,  # the speed levers this cell ran with (maple.train.levers)
            "steps": state.global_step,
            "loss_curve": [
                {"step": h["step"], "loss": h["loss"]} for h in state.log_history if "loss" in h
            ],
            "train_loss": result.training_loss,
            "schedule": effective_schedule(trainer.args, state.max_steps),
            "lr_curve": [
                {"step": h["step"], "learning_rate": h["learning_rate"]}
                for h in state.log_history if "learning_rate" in h
            ],
            "tokens_seen": tokens,
            "tokens_per_s": tokens / train_seconds if train_seconds > 0 else None,
            "train_seconds": train_seconds,
            "wall_seconds": time.time() - started,
            "peak_memory_gib": _peak_memory_gib(device),
            "fingerprint": fingerprint,
        }
        write_record(Path(tmp) / "train.json", record)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the adapter is final: checkpoints are spent
    return record
