"""Apply the prompt template and tokenise with a base model's tokenizer, masking the prompt."""

from __future__ import annotations

from maple.template import wrap_prompt

IGNORE_INDEX = -100  # the label value transformers' loss skips


def format_prompt(example: dict, prompt_cfg: dict) -> str:
    return wrap_prompt(example["instruction"], prompt_cfg, example.get("input"))


def tokenise_example(example: dict, tokenizer, prompt_cfg: dict) -> dict:
    prompt = format_prompt(example, prompt_cfg)
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    answer_ids = tokenizer(example["output"].strip(), add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + answer_ids + [tokenizer.eos_token_id])[: prompt_cfg.get("max_length", 512)]
    labels = list(input_ids)
    if prompt_cfg.get("mask_prompt", True):
        n = min(len(prompt_ids), len(labels))
        labels[:n] = [IGNORE_INDEX] * n
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def tokenise_dataset(dataset, tokenizer, prompt_cfg: dict):
    """Tokenised columns beside the language tag; examples with no label left are dropped."""
    out = dataset.map(
        lambda ex: tokenise_example(ex, tokenizer, prompt_cfg),
        remove_columns=[c for c in dataset.column_names if c != "language"],
        desc="tokenise",
    )
    return out.filter(lambda ex: any(x != IGNORE_INDEX for x in ex["labels"]))
