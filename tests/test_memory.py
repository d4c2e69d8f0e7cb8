"""Memory model of a cell (maple.train.memory): fitted to measured H200 peaks, and the micro-batch /
recomputation plan it gives `training.speed` levers set to auto."""

import pytest

from conftest import train_cfg
from maple.train import levers as lv
from maple.train import memory
from maple.train.memory_fit import rows_of

LLAMA = {"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
         "vocab_size": 32000}


def test_predicted_peaks_within_15_percent_of_every_measured_row():
    fit = memory.load_fit()
    rows = rows_of(fit)
    assert len(rows) >= 5
    for coef in (fit["coefficients"], memory.fit_coefficients(rows)):  # stored and refitted
        for r in rows:
            p = memory.predict(r["shape"], r["layers"], r["bits"], r["rank"], r["tokens"], r["recompute"], r["compiled"], coef)
            assert abs(p / r["peak_gib"] - 1) <= 0.15, (r, p)
    assert all(v >= 0 for v in fit["coefficients"].values())  # bytes, not a curve fit's artefact


def test_terms_follow_bits_rank_and_tokens():
    p = lambda **k: memory.predict(LLAMA, 8, **{"bits": 4, "rank": 8, "tokens": 4096, **k})  # noqa: E731
    assert p(rank=128) > p(rank=8)  # LoRA weights, grads and AdamW states grow with rank
    assert p(tokens=8192) > p(tokens=4096)
    assert p(recompute="full") < p(recompute="none")
    # bf16 base weights vs nf4 + kept bf16 copies under compile: the 16-bit base is the bigger store
    assert memory.terms(LLAMA, 8, 16, 8, 1, "none", True)["fixed"]["base_weights"] > \
        memory.terms(LLAMA, 8, 4, 8, 1, "none", True)["fixed"]["base_weights"]


def test_plan_shrinks_micro_batch_then_recomputes_on_small_cards():
    big = memory.plan(LLAMA, 32, 4, 128, 16, 768, card_gib=80)
    assert big["recompute"] == "none" and big["predicted_peak_gib"] <= 0.9 * 80
    small = memory.plan(LLAMA, 32, 4, 128, 16, 768, card_gib=24)
    assert small["predicted_peak_gib"] <= 0.9 * 24
    assert (small["micro_batch_size"], small["recompute"]) != (big["micro_batch_size"], big["recompute"])
    tiny = memory.plan(LLAMA, 32, 16, 8, 16, 768, card_gib=8)
    assert tiny["recompute"] == "full" and "warning" in tiny  # 13 GB of bf16 weights do not fit 8 GB


def test_flops_per_token_is_4n_plus_lora_and_attention():
    n = 8 * memory.layer_params(LLAMA) + 32000 * 4096
    f = memory.flops_per_token(LLAMA, 8, 8, 512)
    assert 4 * n < f < 4.2 * n and abs(f / 1e9 - 7.23) < 0.05  # the 7.1 GFLOP/token of the H200 README, with attention


def test_auto_levers_resolve_from_the_model_shape():
    from types import SimpleNamespace

    cfg = train_cfg(bits=4, rank=128, per_device_train_batch_size=16,
                    speed={"default": {"micro_batch_size": "auto", "recompute": "auto", "card_memory_gib": 24}})
    levers = lv.resolve(cfg)
    assert levers["micro_batch_size"] == "auto"
    config = SimpleNamespace(num_hidden_layers=32, **LLAMA)
    lv.plan_memory(levers, cfg, config, seq_len=768)
    plan = levers["memory_plan"]
    assert levers["micro_batch_size"] * levers["gradient_accumulation_steps"] == 16
    assert (levers["micro_batch_size"], levers["recompute"]) == (plan["micro_batch_size"], plan["recompute"])
    assert plan["card_memory_gib"] == 24


@pytest.mark.parametrize("speed, message", [
    ({"default": {"card_memory_gib": 0}}, "card_memory_gib: 0 is not allowed"),
    ({"default": {"micro_batch_size": "big"}}, "micro_batch_size: 'big' is not allowed; allowed values: null, auto"),
])
def test_bad_memory_settings_give_one_line(speed, message):
    with pytest.raises(lv.LeverError, match=message):
        lv.resolve(train_cfg(speed=speed))
