"""FLOPs of prompt and decode tokens, and the FLOP rates published vLLM runs show.

A token at context position c (1-based, causal: it attends to c keys) costs 2 x N_body FLOPs in the
transformer layers' matmuls plus 4 x layers x heads x head_dim x c in attention (QK^T and PV); the
lm_head, 2 x hidden x vocab, runs where logits are taken: once per prompt (its last token, which gives
the first output token), at every position of a prompt-logprob request, and once per decode token. The
input embedding is a lookup. A shape is {layers, heads, head_dim, hidden, vocab, body_params}.

A prefill rate in tokens/s hides where the tokens sit: maple's uncached tokens come late in long prompts
(after a cached prefix of shots and passage), so each costs more attention than the short-prompt tokens
of the published runs. The plan therefore carries prefill between runs and tasks as FLOP/s."""

from __future__ import annotations


def attention_pairs(prompt: float, cached: float) -> float:
    """Sum of c over the positions cached + 1 .. prompt: the (query, key) pairs those tokens attend."""
    return (prompt * (prompt + 1) - cached * (cached + 1)) / 2


def attention_flops_per_pair(shape: dict) -> float:
    return 4 * shape["layers"] * shape["heads"] * shape["head_dim"]


def lm_head_flops(shape: dict) -> float:
    return 2 * shape["hidden"] * shape["vocab"]


def prompt_flops(shape: dict, prompt: float, uncached: float, lm_heads: float = 1.0) -> float:
    """FLOPs of a `prompt`-token prompt's last `uncached` tokens (the rest read from the prefix cache),
    with `lm_heads` positions' logits (1: its last token's)."""
    return (2 * shape["body_params"] * uncached
            + attention_flops_per_pair(shape) * attention_pairs(prompt, prompt - uncached)
            + lm_heads * lm_head_flops(shape))


def decode_flops(shape: dict, prompt: float, output: float) -> float:
    """FLOPs of decoding a `prompt`-token request's `output` tokens: the first comes from the prefill, each
    later one from a step feeding the one before it, at positions prompt + 1 .. prompt + output - 1."""
    steps = max(output - 1, 0)
    return (steps * (2 * shape["body_params"] + lm_head_flops(shape))
            + attention_flops_per_pair(shape) * attention_pairs(prompt + steps, prompt))


def uncached_flops(shape: dict, prompt: float, n: float, first: float, steady: float,
                   steady_pairs: float | None = None) -> float:
    """FLOPs of `n` prompts of `prompt` tokens (a mean) sent to one engine: the first with `first` tokens
    uncached, every later one `steady` (the tokens the plan counts: all of every prompt where that is
    fewer). An uncached count beyond `prompt` is a longer prompt, computed whole. `steady_pairs`: a later
    prompt's attention pairs as measured request by request (attention grows with the square of a
    prompt's length, so the pairs of a mean prompt undercount prompts of uneven length, XL-Sum's)."""
    if first + (n - 1) * steady >= n * prompt:
        return n * prompt_flops(shape, prompt, prompt)
    later = prompt_flops(shape, max(prompt, steady), steady)
    if steady_pairs is not None:
        later += attention_flops_per_pair(shape) * (steady_pairs - attention_pairs(max(prompt, steady),
                                                                                   max(prompt, steady) - steady))
    return prompt_flops(shape, max(prompt, first), first) + (n - 1) * later


def loglik_flops(shape: dict, sequences: float, tokens: float) -> float:
    """FLOPs of `sequences` prompt-logprob requests of `tokens` tokens in all: no prefix cache read
    (maple.generate.backends), every position from 1, logits at every position."""
    if not sequences:
        return 0.0
    mean = tokens / sequences
    return sequences * prompt_flops(shape, mean, mean, lm_heads=mean)


def offline_flops_per_s(run: dict) -> float:
    """FLOP rate of an offline benchmark (vLLM's benchmark_throughput.py: fixed prompt and output lengths,
    no prefix shared) over its whole time: each request's prompt and decoding at `requests_per_s`. Its
    steps that mixed prompts with decoding were compute bound; its pure-decode steps ran at a lower FLOP
    rate than prefill steps do, so this average is at most the rate of a prefill-only step: a lower bound."""
    s, p, o = run["shape"], run["prompt_tokens_per_request"], run["output_tokens_per_request"]
    return run["requests_per_s"] * (prompt_flops(s, p, p) + decode_flops(s, p, o))


def serving_prompt_flops(run: dict) -> float:
    """FLOPs of a serving run's answered prompts (published_rates: the prefill its first tokens bound),
    each at their mean length, its last token's logits included."""
    n = run["answered_requests"]
    return n * prompt_flops(run["shape"], run["answered_prompt_tokens"] / n, run["answered_prompt_tokens"] / n)
