"""The two data rules: select + subsample a dataset once, then tokenise it once per base model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from maple.io import atomic_dir, versions, write_record


def download_dataset(name: str, ds_cfg: dict, seed: int, out_dir: str) -> dict:
    from maple.data.sources import select_examples

    examples = select_examples(ds_cfg, seed)
    with atomic_dir(out_dir) as tmp:
        examples.to_parquet(str(Path(tmp) / "train.parquet"))
        record = {
            "dataset": name,
            "config": ds_cfg,
            "seed": seed,
            "rows": len(examples),
            "rows_per_language": dict(sorted(Counter(examples["language"]).items())),
            "versions": versions(),
        }
        write_record(Path(tmp) / "record.json", record)
    return record


def tokenise_raw(raw_dir: str, model_cfg: dict, prompt_cfg: dict, out_dir: str, trust_remote_code=False) -> dict:
    import datasets

    from maple.data.tokenise import IGNORE_INDEX, tokenise_dataset
    from maple.models import load_tokenizer

    raw = datasets.Dataset.from_parquet(str(Path(raw_dir) / "train.parquet"))
    tokenizer = load_tokenizer(model_cfg["path"], model_cfg.get("revision"), trust_remote_code)
    tokenised = tokenise_dataset(raw, tokenizer, prompt_cfg)
    lengths = [len(x) for x in tokenised["input_ids"]]
    with atomic_dir(out_dir) as tmp:
        tokenised.to_parquet(str(Path(tmp) / "train.parquet"))
        record = {
            "model": model_cfg,
            "prompt": prompt_cfg,
            "rows": len(tokenised),
            "dropped": len(raw) - len(tokenised),
            "tokens": sum(lengths),
            "label_tokens": sum(sum(1 for t in labels if t != IGNORE_INDEX) for labels in tokenised["labels"]),
            "max_length_seen": max(lengths) if lengths else 0,
            "versions": versions(),
        }
        write_record(Path(tmp) / "record.json", record)
    return record
