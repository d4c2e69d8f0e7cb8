"""Speed levers (maple.train.levers, maple.train.varlen): each equals the plain path on CPU at fp32.

Tolerances: gradients 1e-5 absolute (fp32, the same products in another order), losses 1e-4
relative; the int8 path is compared with its own dequantised-weight reference."""

import copy

import pytest
import torch

from conftest import train_cfg
from maple.train import levers as lv
from maple.train.trainer import data_collator, load_tokenised, train_adapter

GRAD_TOL = 1e-5


def _tiny_llama(attn=None):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=300, use_cache=False)
    return LlamaForCausalLM(cfg) if attn is None else LlamaForCausalLM._from_config(cfg, attn_implementation=attn)


def _with_lora(base, dropout=0.0, r=8):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    model = get_peft_model(copy.deepcopy(base), LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear",
                                                           lora_dropout=dropout))
    for name, p in model.named_parameters():
        if "lora_B" in name:  # non-zero B so every gradient path is exercised
            torch.nn.init.normal_(p, std=0.02)
    return model


def _loss_and_grads(model, ids, **kw):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids, **kw)
    out.loss.backward()
    return out.loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _max_diff(ga, gb):
    assert ga.keys() == gb.keys() and ga
    return max((ga[k] - gb[k]).abs().max().item() for k in ga)


def test_resolve_precedence_and_micro_batch_plan():
    cfg = train_cfg(bits=8, rank=128, per_device_train_batch_size=8, gradient_accumulation_steps=2,
                    speed={"default": {"fused_lora": True, "micro_batch_size": 4}, "b8": {"recompute": "selective"},
                           "r128": {"micro_batch_size": 2}, "b8-r128": {"compile": True}, "b4": {"compile": False}})
    levers = lv.resolve(cfg)
    assert levers["fused_lora"] and levers["recompute"] == "selective" and levers["compile"]
    assert (levers["micro_batch_size"], levers["gradient_accumulation_steps"]) == (2, 8)  # 16 examples per step kept
    assert lv.resolve(train_cfg(gradient_checkpointing=True))["recompute"] == "full"
    assert lv.resolve(train_cfg())["recompute"] == "none" and not lv.resolve(train_cfg())["fused_lora"]


@pytest.mark.parametrize("speed, message", [
    ({"default": {"recompute": "some"}}, "training.speed.default.recompute: 'some' is not allowed; allowed values"),
    ({"b16": {"bogus": 1}}, "training.speed.b16.bogus: unknown key"),
    ({"default": {"micro_batch_size": 3}}, "micro_batch_size: 3 does not divide the 4 examples"),
    ({"default": {"int8_dequant": True}}, "int8_dequant: true needs fused_lora: true"),
    ({"default": {"attn_implementation": "maple_varlen"}}, "maple_varlen needs training.packing: true"),
])
def test_bad_speed_settings_give_one_line(speed, message):
    with pytest.raises(lv.LeverError, match=message.replace("(", r"\(")):
        lv.resolve(train_cfg(speed=speed))


def test_fused_lora_gradients_equal_peft_fp32():
    base = _tiny_llama()
    ref, fused = _with_lora(base), _with_lora(base)
    assert lv.fuse_lora(fused) == 14  # 7 projections x 2 layers
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(2))
    loss_ref, g_ref = _loss_and_grads(ref, ids)
    loss_fused, g_fused = _loss_and_grads(fused, ids)
    assert abs(loss_ref - loss_fused) < 1e-6
    assert _max_diff(g_ref, g_fused) < GRAD_TOL
    assert max(g.abs().max().item() for g in g_ref.values()) > 100 * GRAD_TOL  # not vacuous


def test_fused_lora_with_dropout_is_the_exact_gradient():
    # dropout draws its own mask, so compare with autograd's gradient of the same function (float64)
    from types import SimpleNamespace

    fn = lv.fused_function()
    torch.manual_seed(3)
    w = torch.randn(6, 5, dtype=torch.float64)
    base = SimpleNamespace(weight=w)
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    a = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(6, dtype=torch.float64)

    def f(x, a, b):
        torch.manual_seed(7)  # the same mask at every call
        return fn.apply(x, a, b, bias, base, 0.5, 0.3, False, True)

    assert torch.autograd.gradcheck(f, (x, a, b))


@pytest.mark.parametrize("bits", [4, 8])
def test_fused_lora_on_quantised_bases(tiny_model, bits):
    """4-bit: equals peft on the dequantised weights (bitsandbytes' CPU path within 1e-3). 8-bit (int8-stored, run as a matmul on the
    dequantised weight): equals x W_dq^T + LoRA exactly, and LLM.int8 within its own rounding."""
    from peft import get_peft_model

    from maple.models import load_base_model
    from maple.train.lora import lora_config

    cfg = train_cfg(bits=bits, lora_dropout=0.0)
    models = []
    for _ in range(2):
        torch.manual_seed(1)  # the same LoRA initialisation in both
        models.append(get_peft_model(load_base_model(tiny_model, bits, "cpu"), lora_config(cfg)))
    ref, fused = models
    for m in (ref, fused):
        torch.manual_seed(1)
        for name, p in m.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.02)
    assert lv.fuse_lora(fused, int8_dequant=bits == 8) == 14
    ids = torch.randint(5, ref.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(4))
    if bits == 4:
        # the exact reference: plain peft on an fp32 base holding the dequantised nf4 weights
        from transformers import AutoModelForCausalLM

        dense = AutoModelForCausalLM.from_pretrained(tiny_model)
        for name, module in ref.base_model.model.named_modules():
            if getattr(getattr(module, "weight", None), "quant_state", None) is not None:
                dense.get_submodule(name.replace(".base_layer", "")).weight.data = lv.base_weight(module, torch.float32, False)
        torch.manual_seed(1)
        exact = get_peft_model(dense, lora_config(cfg))
        torch.manual_seed(1)
        for name, p in exact.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.02)
        _, g_exact = _loss_and_grads(exact, ids)
        _, g_ref = _loss_and_grads(ref, ids)
        _, g_fused = _loss_and_grads(fused, ids)
        assert _max_diff(g_exact, g_fused) < GRAD_TOL
        # bitsandbytes' own CPU 4-bit matmul rounds differently (measured 3e-4 on gradients up to 0.1)
        assert _max_diff(g_exact, g_ref) < 1e-3
        return
    # 8-bit, one layer: the fused output is the dequantised-weight product, LLM.int8 is near it
    from maple.train.levers import base_weight

    layer = fused.base_model.model.model.layers[0].self_attn.q_proj
    ref_layer = ref.base_model.model.model.layers[0].self_attn.q_proj
    x = torch.randn(4, layer.in_features, generator=torch.Generator().manual_seed(5))
    w = base_weight(layer.base_layer, torch.float32, True)
    lora = (x @ layer.lora_A["default"].weight.t()) @ layer.lora_B["default"].weight.t() * layer.scaling["default"]
    with torch.no_grad():
        assert torch.allclose(layer(x), x @ w.t() + lora, atol=1e-5)
        int8_err = (ref_layer(x) - (x @ w.t() + lora)).abs().max().item()
    assert int8_err < 0.1 * (x @ w.t()).abs().max().item()  # LLM.int8 also rounds activations: close, not equal


@pytest.mark.parametrize("recompute", ["full", "selective"])
def test_recomputation_gradients_equal_no_recomputation(recompute):
    base = _tiny_llama()
    ref, ck = _with_lora(base), _with_lora(base)
    ck.base_model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=lv.checkpointing_kwargs(recompute))
    ck.base_model.model.enable_input_require_grads()
    ck.train(), ref.train()
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(2))
    loss_ref, g_ref = _loss_and_grads(ref, ids)
    loss_ck, g_ck = _loss_and_grads(ck, ids)
    assert abs(loss_ref - loss_ck) < 1e-6 and _max_diff(g_ref, g_ck) < GRAD_TOL
    assert ck.base_model.model.model.gradient_checkpointing


def test_selective_policy_saves_matmuls_and_recomputes_the_rest():
    from torch.utils.checkpoint import CheckpointPolicy

    aten = torch.ops.aten
    assert lv._selective_policy(None, aten.mm.default) == CheckpointPolicy.MUST_SAVE
    assert lv._selective_policy(None, aten.silu.default) == CheckpointPolicy.PREFER_RECOMPUTE
    assert lv._selective_policy(None, aten.mul.Tensor) == CheckpointPolicy.PREFER_RECOMPUTE


def test_per_block_compile_gradients_equal_eager():
    base = _tiny_llama()
    ref, comp = _with_lora(base), _with_lora(base)
    lv.fuse_lora(comp)
    assert lv.compile_blocks(comp, backend="aot_eager") == 2  # inductor is exercised by the benchmark's tiny run
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(2))
    _, g_ref = _loss_and_grads(ref, ids)
    _, g_comp = _loss_and_grads(comp, ids)
    assert _max_diff(g_ref, g_comp) < GRAD_TOL


def test_liger_is_guarded_off_cuda():
    assert lv.apply_liger(None, False, "cpu") == "off"
    assert lv.apply_liger(None, "auto", "cpu").startswith("skipped: ")
    with pytest.raises(lv.LeverError, match="training.speed.liger: true but"):
        lv.apply_liger(None, True, "cpu")


def test_varlen_attention_on_packed_rows_equals_padded(tiny_model, tiny_tokenised):
    from transformers import AutoModelForCausalLM

    from maple.models import load_tokenizer
    from maple.train.varlen import cu_seqlens, register

    register()
    tok = load_tokenizer(tiny_model)
    rows = [load_tokenised(tiny_tokenised)[i] for i in range(5)]
    padded, packed = data_collator(tok, packing=False)(rows), data_collator(tok, packing=True)(rows)
    assert cu_seqlens(packed["position_ids"]).tolist() == [0, *torch.tensor([len(r["input_ids"]) for r in rows]).cumsum(0).tolist()]
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model)
    varlen = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="maple_varlen")
    loss_pad, g_pad = _loss_and_grads(sdpa, padded["input_ids"], attention_mask=padded["attention_mask"])
    # per-token losses are the same tokens: compare the (token-averaged) losses of both layouts
    varlen.zero_grad()
    out = varlen(input_ids=packed["input_ids"], position_ids=packed["position_ids"], labels=packed["labels"])
    out.loss.backward()
    # the same with the boundaries from the collator (what training passes: no device sync)
    with_kwargs = data_collator(tok, packing=True, varlen=True)(rows)
    assert with_kwargs["cu_seq_lens_q"].tolist() == cu_seqlens(packed["position_ids"]).tolist()
    with torch.no_grad():
        again = varlen(**{k: v for k, v in with_kwargs.items()})
    assert abs(again.loss.item() - out.loss.item()) < 1e-6
    sdpa.zero_grad()
    ref = sdpa(**{k: padded[k] for k in ("input_ids", "attention_mask", "labels")})
    ref.loss.backward()
    assert abs(out.loss.item() - ref.loss.item()) < 1e-4 * abs(ref.loss.item())
    g_var = {n: p.grad for n, p in varlen.named_parameters()}
    g_ref = {n: p.grad for n, p in sdpa.named_parameters()}
    assert _max_diff(g_ref, g_var) < 1e-4


def test_training_with_levers_matches_plain(tmp_path, tiny_model, tiny_tokenised):
    """The train rule's path with the CPU-runnable levers on: same loss curve, recorded choices."""
    common = dict(max_steps=3, gradient_accumulation_steps=1, per_device_train_batch_size=4)
    plain = train_adapter("p", {"path": tiny_model}, train_cfg(**common), tiny_tokenised, str(tmp_path / "a"), str(tmp_path / "ca"))
    speed = {"default": {"fused_lora": True, "recompute": "selective", "micro_batch_size": 2, "liger": "auto"}}
    fast = train_adapter("q", {"path": tiny_model}, train_cfg(speed=speed, **common), tiny_tokenised, str(tmp_path / "b"), str(tmp_path / "cb"))
    for a, b in zip(plain["loss_curve"], fast["loss_curve"], strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4 * max(1.0, abs(a["loss"]))
    assert fast["speed"]["fused_modules"] == 14 and fast["speed"]["gradient_accumulation_steps"] == 2
    assert fast["speed"]["liger_status"].startswith("skipped") and plain["speed"]["fused_lora"] is False
    import json

    assert json.loads((tmp_path / "b" / "train.json").read_text())["speed"]["recompute"] == "selective"


def test_skipping_kbit_upcast_trains_the_same_on_cpu(tmp_path, tiny_model, tiny_tokenised):
    """kbit_upcast: false skips peft's fp32 cast of norms/embeddings (a no-op in fp32 on CPU): same curve."""
    common = dict(bits=4, max_steps=2)
    a = train_adapter("u", {"path": tiny_model}, train_cfg(**common), tiny_tokenised, str(tmp_path / "a"), str(tmp_path / "ca"))
    speed = {"b4": {"kbit_upcast": False, "fused_lora": True}}
    b = train_adapter("v", {"path": tiny_model}, train_cfg(speed=speed, **common), tiny_tokenised, str(tmp_path / "b"), str(tmp_path / "cb"))
    assert b["speed"]["kbit_upcast"] is False and b["speed"]["fused_modules"] == 14
    # fused 4-bit is the exact dequantised product; bitsandbytes' CPU 4-bit matmul differs by ~3e-4
    for x, y in zip(a["loss_curve"], b["loss_curve"], strict=True):
        assert abs(x["loss"] - y["loss"]) < 1e-3 * max(1.0, abs(x["loss"]))


def test_a_compile_fallback_is_recorded_not_hidden():
    """A graph break inside a compiled block (real dynamo, CPU) shows as compile: degraded with its
    counters; an error logged by Triton kernel wrapping while Liger is applied shows as liger: degraded."""
    import logging

    def f(x):
        x = x * 2
        torch._dynamo.graph_break()
        return x + 1

    torch._dynamo.reset()
    with lv.LeverWatch() as watch:
        torch.compile(f, backend="eager")(torch.ones(3))
    status = lv.lever_status({"compile": True, "compiled_blocks": 1, "liger_status": "skipped: no CUDA"}, watch)
    assert status["compile"]["status"] == "degraded" and status["compile"]["counters"]["graph_breaks"] >= 1
    assert status["liger"]["status"] == "skipped"
    # torch's Triton kernel analysis logs the failure the H200 run showed as a warning with exc_info
    with lv.LeverWatch() as watch:
        try:
            raise AttributeError("'float' object has no attribute 'to'")
        except AttributeError:
            logging.getLogger("torch._higher_order_ops.triton_kernel_wrap").warning(
                "Encountered an exception in identify_accessed_tensors, assuming every input is mutated", exc_info=True)
    status = lv.lever_status({"liger_status": "applied"}, watch)
    assert status["liger"]["status"] == "degraded" and "AttributeError" in status["liger"]["reason"]
    with lv.LeverWatch() as quiet:
        pass
    assert lv.lever_status({"liger_status": "applied"}, quiet)["liger"]["status"] == "applied"
