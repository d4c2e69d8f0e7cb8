"""LoRA / QLoRA training and adapter merging."""
