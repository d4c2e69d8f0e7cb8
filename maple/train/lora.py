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


def add_lora(model, train_cfg: dict):
    from peft import get_peft_model, prepare_model_for_kbit_training

    if train_cfg["bits"] in (4, 8):
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=train_cfg.get("gradient_checkpointing", False)
        )
    elif train_cfg.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return get_peft_model(model, lora_config(train_cfg))


def trainable_parameters(model) -> dict:
    # peft's count unpacks 4-bit weights (two values per stored byte); a plain numel() sum halves them
    trainable, total = model.get_nb_trainable_parameters()
    return {"trainable": trainable, "total": total, "share": trainable / total}
