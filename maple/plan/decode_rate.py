"""How fast decoding can go at a task's context length: the roofline of one decoding step with the KV
cache counted. A step reads the weights once and every running sequence's KV cache, and does 2N FLOPs
per sequence; the batch is vLLM's max_num_seqs or what fits in the KV memory beside the weights (and,
at the slow end, beside what vLLM's own start-up reserves: its profile pass's activations, non-torch
memory and CUDA graphs, `non_kv_reserve_bytes`).

With vLLM's prefix cache a shared prefix (a language's instruction and shots) is stored once, so it
limits the batch once; whether it is also read once depends on the attention kernel (vLLM's cascade
attention), so the fast end counts it once and the slow end once per sequence. The slow end also adds
the overhead per step that a published vLLM run shows beyond reading its weights and KV cache. Long contexts cost:
XL-Sum's ~3,000-token prompts leave room for ~150 Mistral-7B sequences on an H100, and Llama-2-7B,
without grouped-query attention, keeps 4x the KV per token."""

from __future__ import annotations


def kv_bytes_per_token(arch: dict) -> int:
    """K and V of every layer for one token: 2 x layers x kv_heads x head_dim x bytes per value."""
    return 2 * arch["layers"] * arch["kv_heads"] * arch["head_dim"] * arch["bytes_per_value"]


def step(shared: float, unique: float, params: float, arch: dict, gpu: dict,
         shared_read_once: bool, reserve: float = 0.0) -> tuple[float, float]:
    """(batch, seconds) of one decoding step at the roofline: `shared` prefix tokens common to the
    batch, `unique` tokens of each sequence's own (its uncached prompt rest and what it has generated);
    `reserve`: bytes of the card's budget that are neither weights nor KV cache."""
    kv = kv_bytes_per_token(arch)
    weights = params * arch["bytes_per_value"]
    budget = gpu["memory_bytes"] * gpu["memory_utilization"] - weights - reserve - shared * kv
    if budget <= unique * kv:
        raise ValueError(f"one sequence of {shared + unique:.0f} tokens does not fit beside the weights")
    batch = min(gpu["max_num_seqs"], budget / (unique * kv))
    read = weights + (shared * kv + batch * unique * kv if shared_read_once else batch * (shared + unique) * kv)
    return batch, max(read / gpu["hbm_bytes_per_s"], 2 * params * batch / gpu["matmul_flops_per_s"])


def step_bound(shared: float, unique: float, params: float, arch: dict, gpu: dict,
               shared_read_once: bool, reserve: float = 0.0) -> float:
    """Tokens per second at the roofline (see `step`)."""
    batch, seconds = step(shared, unique, params, arch, gpu, shared_read_once, reserve)
    return batch / seconds


def step_overhead(mean_step_s: float, kv_tokens: float, params: float, arch: dict, gpu: dict) -> float:
    """Seconds a published run's decoding step took beyond the roofline's reads: its measured mean step
    (published_rates.mean_step_s) less its weights' read and the `kv_tokens` of KV cache its mean step
    read (published_rates.kv_tokens_per_step), at the card's bandwidth. What is left (scheduling,
    sampling, other requests' prefill stalls) is added to every step of the slow end, whose own KV reads
    `step` counts at the task's context."""
    read = params * arch["bytes_per_value"] + kv_tokens * kv_bytes_per_token(arch)
    return max(mean_step_s - read / gpu["hbm_bytes_per_s"], 0.0)


def decode_rates(prompt: float, uncached: float, new_tokens_high: float, new_tokens_low: float,
                 params: float, arch: dict, gpu: dict, published: float, overhead_s: float = 0.0) -> dict:
    """Decode tokens/s for one task x protocol. `prompt`: mean prompt tokens; `uncached`: what a later
    prompt adds beyond the cached prefix. A sequence's mean context while decoding is its prompt plus
    half its output. high (slow end): the roofline step with the prefix read per sequence plus the
    published run's overhead per step (`step_overhead`), at most the published rate, outputs at
    max_new_tokens, the KV cache what vLLM's reserve (`gpu["non_kv_reserve_bytes"]`) leaves; low (fast
    end): the roofline with the prefix read once, expected outputs, no reserve; expected: as high,
    expected outputs."""
    shared = max(prompt - uncached, 0.0)
    reserve = float(gpu.get("non_kv_reserve_bytes", 0.0))

    def slow(new_tokens):
        batch, seconds = step(shared, uncached + new_tokens / 2, params, arch, gpu, False, reserve)
        return min(published, batch / (seconds + overhead_s))

    return {"high": slow(new_tokens_high),
            "low": step_bound(shared, uncached + new_tokens_low / 2, params, arch, gpu, True),
            "expected": slow(new_tokens_low)}
