"""vLLM's CUDA engine settings, checked without a GPU: the CUDA vllm wheel cannot travel to the lent
machine (tests/gpu/test_gpu_smoke.py covers the hf backend there), so the engine arguments that a
GPU job would get are pinned here against a stand-in LLM class."""

import sys
import types

import pytest

from maple.generate import backends


@pytest.fixture
def fake_vllm(monkeypatch):
    seen = {}

    class LLM:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    module = types.ModuleType("vllm")
    module.LLM = LLM
    monkeypatch.setitem(sys.modules, "vllm", module)

    def no_cpu_patch():
        raise AssertionError("the CPU LoRA ops must not be installed on cuda")

    monkeypatch.setattr("maple.generate.vllm_cpu_lora.install", no_cpu_patch)
    return seen


def test_cuda_engine_runs_bf16_with_cuda_graphs_and_prefix_caching(fake_vllm):
    backends.VllmBackend("some/model", device="cuda", seed=7, max_model_len=4096)
    assert fake_vllm["dtype"] == "bfloat16"
    assert fake_vllm["enforce_eager"] is False  # CUDA graphs on; eager is the CPU-only setting
    assert fake_vllm["enable_prefix_caching"] is True
    assert (fake_vllm["max_model_len"], fake_vllm["seed"]) == (4096, 7)
    assert "enable_lora" not in fake_vllm


@pytest.mark.parametrize("rank,served", [(8, 8), (64, 64), (100, 128)])
def test_cuda_multi_lora_engine_takes_the_stock_lora_ops_and_a_supported_rank(fake_vllm, rank, served):
    engine = backends.VllmBackend("some/model", device="cuda", lora_rank=rank, max_loras=2)
    assert (fake_vllm["enable_lora"], fake_vllm["max_lora_rank"], fake_vllm["max_loras"]) == (True, served, 2)
    assert engine.cpu_lora_unpatched is False  # log-likelihoods through an adapter are allowed on cuda
