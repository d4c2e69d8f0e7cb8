"""Shared fixtures: a tiny model built offline in a temporary directory, tiny tokenised data."""

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

TINY_BUILD = {"architecture": "llama", "hidden_size": 64, "layers": 2, "heads": 4, "kv_heads": 2, "vocab_size": 600}
PROMPT = {
    "template": "### Instruction:\n{instruction}\n\n{input_block}### Response:\n",
    "input_block": "### Input:\n{input}\n\n",
    "mask_prompt": True,
    "max_length": 128,
}
LANG_TEXT = {
    "en": ("Name a colour of the sky.", "The sky is blue."),
    "th": ("บอกสีของท้องฟ้า", "ท้องฟ้าเป็นสีฟ้า"),
    "zh": ("说出天空的颜色。", "天空是蓝色的。"),
    "hi": ("आकाश का रंग बताइए।", "आकाश नीला है।"),
}


def write_instruction_rows(path: Path, lang: str, n: int) -> None:
    instruction, output = LANG_TEXT[lang]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            row = {"instruction": f"{instruction} ({i})", "input": "" if i % 3 else f"{i} + {i}", "output": f"{output} {i}"}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for lang in LANG_TEXT:
        write_instruction_rows(root / f"{lang}.jsonl", lang, 30)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_corpus) -> str:
    from maple.data.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    build_tiny_model(str(out), TINY_BUILD, [str(tiny_corpus)], seed=0)
    return str(out)


@pytest.fixture(scope="session")
def tiny_tokenised(tmp_path_factory, tiny_corpus, tiny_model) -> str:
    from maple.data.prepare import download_dataset, tokenise_raw

    root = tmp_path_factory.mktemp("data")
    ds_cfg = {"source": {"path": str(tiny_corpus), "data_files": "{lang}.jsonl", "split": "train"},
              "languages": ["en", "th", "zh"], "size": 24}
    download_dataset("tiny", ds_cfg, 0, str(root / "raw"))
    tokenise_raw(str(root / "raw"), {"path": tiny_model}, PROMPT, str(root / "tok"))
    return str(root / "tok")


def train_cfg(bits=16, rank=8, **overrides):
    cfg = dict(
        rank=rank, bits=bits, seed=1, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
        learning_rate=5e-3, lr_scheduler_type="constant", warmup_ratio=0.0, max_grad_norm=1.0,
        per_device_train_batch_size=4, gradient_accumulation_steps=1, num_train_epochs=1, max_steps=4,
        weight_decay=0.0, optim="adamw_torch", gradient_checkpointing=False, save_steps=2,
        save_total_limit=3, logging_steps=1,
    )
    cfg.update(overrides)
    return cfg


def shared_files(pattern: str) -> list[Path]:
    """Files of ../shared/data matching `pattern`; the test is skipped cleanly when there are none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA}")
    files = sorted(SHARED_DATA.glob(pattern))
    if not files:
        pytest.skip(f"no {pattern} under {SHARED_DATA}")
    return files
