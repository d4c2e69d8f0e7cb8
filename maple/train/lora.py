"""LoRA set-up on a (possibly quantised) base model."""

from __future__ import annotations

from pathlib import Path


def lora_config(train_cfg: dict):
    from peft import LoraConfig

    return LoraConfig(
        r=train_cfg["rank"],
        lora_alpha=train_cfg["lora_alpha"],
        lora_dropout=train_cfg["lora_dropout"],
        target_modules=train_cfg["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )


def add_lora(model, train_cfg: dict, levers: dict | None = None, device: str = "cpu"):
    """peft LoRA on the base, with the cell's speed levers (maple.train.levers) applied."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    from maple.train import levers as lv

    levers = levers or lv.resolve(train_cfg)
    gc_kwargs = lv.checkpointing_kwargs(levers["recompute"])
    levers["liger_status"] = lv.apply_liger(model, levers["liger"], device, compiled=bool(levers["compile"]))  # before peft wraps the modules
    if train_cfg["bits"] in (4, 8) and levers["kbit_upcast"]:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gc_kwargs is not None, gradient_checkpointing_kwargs=gc_kwargs
        )
    elif gc_kwargs is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
        model.enable_input_require_grads()
    model = get_peft_model(model, lora_config(train_cfg))
    if levers["fused_lora"]:
        levers["fused_modules"] = lv.fuse_lora(model, int8_dequant=levers["int8_dequant"])
    if levers["compile"]:
        levers["compiled_blocks"] = lv.compile_blocks(model)
    return model


def trained_model(base_path: str, adapter_dir: str, train_cfg: dict, device: str):
    """The adapter in the forward it was trained with: the base at the cell's bits, peft LoRA with
    the cell's projection levers (fused LoRA, 8-bit as a dequantised matmul, kbit upcast or not),
    the saved adapter weights loaded; eval mode. Compile, Liger and recomputation are left out:
    they change speed and memory, not the function (tests/test_levers.py)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from maple.train import levers as lv
    from maple.models import load_base_model

    # auto micro-batch / recomputation only size the step: left out of the forward
    speed = {k: {kk: vv for kk, vv in (v or {}).items() if vv != "auto"} for k, v in (train_cfg.get("speed") or {}).items()}
    levers = lv.resolve({**train_cfg, "speed": speed})
    levers.update(compile=False, liger=False, recompute="none")
    model = load_base_model(base_path, train_cfg["bits"], device)
    model = add_lora(model, train_cfg, levers, device)
    state = load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise ValueError(f"{adapter_dir}: adapter does not fit the cell's LoRA: missing {missing[:3]}, "
                         f"unexpected {list(result.unexpected_keys)[:3]}")
    return model.eval()


def trainable_parameters(model) -> dict:
    # peft's count unpacks 4-bit weights (two values per stored byte); a plain numel() sum halves them
    trainable, total = model.get_nb_trainable_parameters()
    return {"trainable": trainable, "total": total, "share": trainable / total}
