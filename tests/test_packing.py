"""Sequence packing: one row per micro-batch, position ids restart per example, no cross-contamination."""

import datasets
import torch
from transformers import AutoModelForCausalLM

from conftest import train_cfg
from maple.models import load_tokenizer
from maple.train.trainer import data_collator, load_tokenised, train_adapter


def test_packed_logits_equal_padded_logits_per_example(tiny_model, tiny_tokenised):
    tok = load_tokenizer(tiny_model)
    rows = [load_tokenised(tiny_tokenised)[i] for i in range(6)]
    assert len({len(r["input_ids"]) for r in rows}) > 1  # ragged, as real instruction data is
    padded = data_collator(tok, packing=False)(rows)
    packed = data_collator(tok, packing=True)(rows)
    assert packed["input_ids"].shape[0] == 1 and packed["input_ids"].shape[1] == sum(len(r["input_ids"]) for r in rows)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        logits_padded = model(**padded, use_cache=False).logits
        logits_packed = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits
    offset = 0
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        assert torch.allclose(logits_padded[i, :n], logits_packed[0, offset : offset + n], atol=1e-4)
        offset += n


def test_packed_training_matches_padded_loss(tmp_path, tiny_model, tiny_tokenised):
    common = dict(max_steps=3)
    padded = train_adapter("p", {"path": tiny_model}, train_cfg(**common), tiny_tokenised, str(tmp_path / "a"), str(tmp_path / "ca"))
    packed = train_adapter("q", {"path": tiny_model}, train_cfg(packing=True, **common), tiny_tokenised, str(tmp_path / "b"), str(tmp_path / "cb"))
    for a, b in zip(padded["loss_curve"], packed["loss_curve"]):
        assert abs(a["loss"] - b["loss"]) < 1e-3 * max(1.0, abs(a["loss"]))
    assert packed["tokens_seen"] == padded["tokens_seen"]  # same real tokens, no padding counted
