"""maple's vLLM CPU LoRA ops against vLLM's own torch ops, and the base-token (-1) semantics."""

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")

TOKENS, HIDDEN, RANK, OUT, LORAS = 37, 24, 8, 40, 3


@pytest.fixture
def tensors():
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(TOKENS, HIDDEN, generator=g)
    a = torch.randn(LORAS, 1, RANK, HIDDEN, generator=g)  # vLLM's stacked layout: (loras, 1, rank, in)
    b = torch.randn(LORAS, 1, OUT, RANK, generator=g)
    mixed = torch.randint(0, LORAS, (TOKENS,), generator=g)
    return x, a, b, mixed


def _stock():
    """vLLM's own ops, even when an earlier test's engine installed maple's."""
    from types import SimpleNamespace

    from maple.generate.vllm_cpu_lora import stock_ops

    return SimpleNamespace(**stock_ops())


@pytest.mark.parametrize("kind", ["one adapter", "mixed adapters"])
def test_ops_match_vllms_torch_ops(tensors, kind):
    import torch

    from maple.generate import vllm_cpu_lora as ours

    stock = _stock()
    x, a, b, mixed = tensors
    idx = torch.full((TOKENS,), 1) if kind == "one adapter" else mixed

    want, got = torch.zeros(TOKENS, RANK), torch.zeros(TOKENS, RANK)
    stock.bgmv_shrink(x, a, want, idx, 0.5)
    ours.bgmv_shrink(x, a, got, idx, 0.5)
    torch.testing.assert_close(got, want)

    base = torch.randn(TOKENS, OUT)
    for add in (True, False):
        want_out, got_out = base.clone(), base.clone()
        stock.bgmv_expand(want, b, want_out, idx, add_inputs=add)
        ours.bgmv_expand(want, b, got_out, idx, add_inputs=add)
        torch.testing.assert_close(got_out, want_out)

    wide = torch.randn(TOKENS, OUT + 16)
    want_slice, got_slice = wide.clone(), wide.clone()
    stock.bgmv_expand_slice(want, b, want_slice, idx, 8, OUT, add_inputs=True)
    ours.bgmv_expand_slice(want, b, got_slice, idx, 8, OUT, add_inputs=True)
    torch.testing.assert_close(got_slice, want_slice)


def test_base_model_tokens_get_no_adapter_delta(tensors):
    import torch

    from maple.generate import vllm_cpu_lora as ours

    x, a, b, mixed = tensors
    idx = mixed.clone()
    idx[::2] = -1  # base-model requests batched beside adapter requests
    shrunk = torch.zeros(TOKENS, RANK)
    ours.bgmv_shrink(x, a, shrunk, idx)
    out = torch.ones(TOKENS, OUT)
    ours.bgmv_expand(shrunk, b, out, idx, add_inputs=True)
    assert torch.equal(out[::2], torch.ones_like(out[::2]))  # untouched
    assert not torch.equal(out[1::2], torch.ones_like(out[1::2]))  # the adapter rows did change
    assert torch.count_nonzero(shrunk[::2]) == 0
    # what the patch fixes: vLLM 0.32's own op reads -1 as the last adapter (vllm-project/vllm#48421)
    stock_shrunk = torch.zeros(TOKENS, RANK)
    _stock().bgmv_shrink(x, a, stock_shrunk, idx)
    torch.testing.assert_close(stock_shrunk[::2], x[::2] @ a[-1, 0].T)


def test_install_swaps_the_ops_vllms_cpu_wrapper_calls():
    import vllm
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    from maple.generate import vllm_cpu_lora as ours

    saved = {name: (getattr(lora_ops, name), getattr(punica_cpu, name)) for name in ours.PATCHED}
    try:
        installed = ours.install()
        assert installed == vllm.__version__.startswith(ours.TESTED_VLLM)
        if installed:
            for name, fn in ours.PATCHED.items():
                assert getattr(lora_ops, name) is fn and getattr(punica_cpu, name) is fn
    finally:
        for name, (a, b) in saved.items():
            setattr(lora_ops, name, a)
            setattr(punica_cpu, name, b)
