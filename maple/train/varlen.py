"""Varlen attention for packed rows (`training.speed.attn_implementation: maple_varlen`).

A packed micro-batch (DataCollatorWithFlattening: one row, position ids restarting per example)
is attended example by example: on CUDA with torch's flash-attention varlen kernel
(torch.nn.attention.varlen), so the cost is sum(L_i^2), not (sum L_i)^2 as with sdpa's
block-diagonal mask; elsewhere one causal sdpa call per example (same result, for tests)."""

from __future__ import annotations

import inspect

NAME = "maple_varlen"


def cu_seqlens(position_ids):
    """Start offsets of the examples in a packed row (+ the total), from restarting position ids."""
    import torch

    pos = position_ids.reshape(-1)
    starts = torch.nonzero(pos == 0, as_tuple=False).reshape(-1)
    if starts.numel() == 0 or starts[0].item() != 0:
        starts = torch.cat([starts.new_zeros(1), starts])
    total = torch.tensor([pos.numel()], device=pos.device, dtype=starts.dtype)
    return torch.cat([starts, total]).to(torch.int32)


def _cuda_varlen(q, k, v, cu, max_len, scaling):
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    kw = {"scale": scaling}
    if "is_causal" in params:  # torch <= 2.10
        kw["is_causal"] = True
    else:
        kw["window_size"] = (-1, 0)
    if k.shape[1] != q.shape[1]:
        if "enable_gqa" in params:
            kw["enable_gqa"] = True
        else:
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    return varlen_attn(q, k, v, cu, cu, max_len, max_len, **kw)


def varlen_attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention interface: query/key/value [1, heads, tokens, dim] -> [1, tokens, heads, dim]."""
    import torch

    position_ids = kwargs.get("position_ids")
    if query.shape[0] != 1 or position_ids is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    if kwargs.get("cu_seq_lens_q") is not None:  # from DataCollatorWithFlattening: no device sync
        cu, max_len = kwargs["cu_seq_lens_q"].to(torch.int32), int(kwargs["max_length_q"])
    else:
        cu = cu_seqlens(position_ids)
        max_len = int((cu[1:] - cu[:-1]).max().item())
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # [tokens, heads, dim]
    if query.is_cuda:
        out = _cuda_varlen(q.contiguous(), k.contiguous(), v.contiguous(), cu, max_len, scaling)
    else:
        parts = []
        bounds = cu.tolist()
        for start, end in zip(bounds[:-1], bounds[1:]):
            qs, ks, vs = (t[start:end].transpose(0, 1) for t in (q, k, v))  # [heads, len, dim]
            o = torch.nn.functional.scaled_dot_product_attention(
                qs, ks, vs, is_causal=True, scale=scaling, enable_gqa=ks.shape[0] != qs.shape[0]
            )
            parts.append(o.transpose(0, 1))
        out = torch.cat(parts, dim=0)
    return out.unsqueeze(0), None


def register() -> str:
    """Make `attn_implementation="maple_varlen"` known to transformers (no mask is built: like flash)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(NAME, varlen_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, flash_attention_mask)
    return NAME
