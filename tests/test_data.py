"""Finetuning data: hub-layout loading, language selection, subsampling, prompt masking."""

import json

import pytest

from conftest import PROMPT, write_instruction_rows
from maple.data.sources import DataSourceError, per_language_quota, select_examples
from maple.data.tokenise import IGNORE_INDEX, format_prompt, tokenise_example


@pytest.fixture()
def config_layout(tmp_path):
    """A Bactrian-X-like repo: one config per language declared in README.md, as on the hub."""
    langs = ["en", "th", "zh"]
    for lang in langs:
        write_instruction_rows(tmp_path / lang / "train.jsonl", lang, 10)
    configs = "".join(
        f"- config_name: {lang}\n  data_files:\n  - split: train\n    path: {lang}/train.jsonl\n" for lang in langs
    )
    (tmp_path / "README.md").write_text(f"---\nconfigs:\n{configs}---\n# test dataset\n")
    return tmp_path


def test_quota_splits_evenly_with_remainder_first():
    assert per_language_quota(10, ["a", "b", "c"]) == {"a": 4, "b": 3, "c": 3}


def test_select_by_config_name_subsamples_deterministically(config_layout):
    cfg = {"source": {"path": str(config_layout), "config": "{lang}", "split": "train"}, "languages": ["th", "zh"], "size": 8}
    a, b = select_examples(cfg, seed=3), select_examples(cfg, seed=3)
    assert len(a) == 8 and sorted(set(a["language"])) == ["th", "zh"]
    assert a["instruction"] == b["instruction"]
    assert select_examples(cfg, seed=4)["instruction"] != a["instruction"]
    assert all("ท้องฟ้า" in x or "天空" in x for x in a["instruction"])


def test_select_by_data_files(tiny_corpus):
    cfg = {"source": {"path": str(tiny_corpus), "data_files": "{lang}.jsonl"}, "languages": ["hi"], "size": 100}
    ds = select_examples(cfg, seed=0)
    assert len(ds) == 30 and set(ds["language"]) == {"hi"}  # a language smaller than its quota gives what it has


def test_missing_language_is_one_line(config_layout):
    cfg = {"source": {"path": str(config_layout), "config": "{lang}"}, "languages": ["xx"], "size": 4}
    with pytest.raises(DataSourceError) as err:
        select_examples(cfg, seed=0)
    assert "\n" not in str(err.value) and "'xx'" in str(err.value)


def test_hub_id_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = {"source": {"path": "no-such-org/no-such-dataset", "config": "{lang}"}, "languages": ["en"], "size": 4}
    with pytest.raises(DataSourceError, match="HF_HUB_OFFLINE=1") as err:
        select_examples(cfg, seed=0)
    assert "\n" not in str(err.value)


def test_prompt_template_and_masking(tiny_model):
    from maple.models import load_tokenizer

    tok = load_tokenizer(tiny_model)
    ex = {"instruction": "Add", "input": "2 + 2", "output": "4"}
    prompt = format_prompt(ex, PROMPT)
    assert prompt == "### Instruction:\nAdd\n\n### Input:\n2 + 2\n\n### Response:\n"
    assert format_prompt({**ex, "input": ""}, PROMPT) == "### Instruction:\nAdd\n\n### Response:\n"
    row = tokenise_example(ex, tok, PROMPT)
    n_prompt = len(tok(prompt)["input_ids"])
    assert row["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert row["labels"][n_prompt:] == row["input_ids"][n_prompt:] and row["input_ids"][-1] == tok.eos_token_id
    unmasked = tokenise_example(ex, tok, {**PROMPT, "mask_prompt": False})
    assert unmasked["labels"] == unmasked["input_ids"]


def test_tokenised_cache_records_what_produced_it(tiny_tokenised):
    import pandas as pd

    df = pd.read_parquet(f"{tiny_tokenised}/train.parquet")
    record = json.load(open(f"{tiny_tokenised}/record.json"))
    assert len(df) == record["rows"] == 24 and {"input_ids", "labels", "language"} <= set(df.columns)
    assert record["prompt"]["mask_prompt"] is True and "transformers" in record["versions"]


def test_columns_are_mapped_from_config(tmp_path):
    rows = [{"prompt": f"Say {i}.", "response": f"{i}", "lang_id": "en"} for i in range(6)]
    (tmp_path / "en.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"source": {"path": "json", "data_files": str(tmp_path / "{lang}.jsonl")}, "languages": ["en"], "size": 4}
    with pytest.raises(DataSourceError, match="lacks column"):
        select_examples(cfg, seed=0)
    ds = select_examples({**cfg, "columns": {"instruction": "prompt", "output": "response"}}, seed=0)
    assert ds.column_names == ["instruction", "input", "output", "language"] and len(ds) == 4
    assert all(o == i.split()[1].rstrip(".") for i, o in zip(ds["instruction"], ds["output"]))
    with pytest.raises(DataSourceError, match="no column"):
        select_examples({**cfg, "columns": {"instruction": "question"}}, seed=0)
