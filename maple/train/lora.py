"""LoRA set-up on a (possibly quantised) base model."""

from __future__ import annotations


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


def trainable_parameters(model) -> dict:
    # peft's count unpacks 4-bit weights (two values per stored byte); a plain numel() sum halves them
    trainable, total = model.get_nb_trainable_parameters()
    return {"trainable": trainable, "total": total, "share": trainable / total}
