"""The plan's slow-end vLLM rates, from published benchmark runs' figures (anchors.yaml).

A serving benchmark (vLLM's benchmark_serving.py, all prompts sent at once) reports output tokens over
the run's whole duration, which also prefilled the prompts and began with no engine work at all. The
plan counts prefill separately, so, from the run's own per-request times:

  start    no request had a token before the earliest first token; the prefill step that made it
           held at most `first_step_tokens` prompt tokens, at no less than a known prefill floor
           (another published lower bound, a FLOP rate in this run's prompt tokens/s), so the engine's
           work began no earlier than that;
  prefill  the prompt tokens of the requests that returned a token over the time from the start to the
           latest of their first tokens: each was prefilled in it, while the engine also decoded (a
           lower bound);
  decode   the output tokens over the time from the start less those prompts' prefill at the compute
           bound (the least time prefill can have taken, so the slowest decode rate the run allows);
  step     one long-lived request's decoding steps after its first chunk of tokens, at the time its
           later chunks took: a measured mean step, stalls for other requests' prefill included;
  context  the KV cache the run's decoding read: each request's every decoding step reads its prompt and
           what it has generated (`decode_context_tokens`), spread over the steps its decode time holds
           at the traced mean step (`kv_tokens_per_step`).

Each is a slow end: the lowest rate the run's figures support. Both at once are not: the run, without
chunked prefill, spent each step prefilling or decoding, so its prefill time and its decode time add up
to at most its time from the start. `rates_at` gives the rates that one prefill time in
`prefill_seconds_range` leaves; the plan takes, over that range, the one that makes its own work slowest.
Rates here are in the run's own prompt tokens/s; the plan carries them to other prompts as FLOP rates
(maple.plan.prefill_flops: the run's answered prompts' FLOPs per token), beside the offline runs' FLOP
rates (`prefill_flops.offline_flops_per_s`), and takes the highest of the prefill bounds."""

from __future__ import annotations

from maple.plan import prefill_flops


def run_from_serving_results(results: dict, trace_request: int, trace_itls: list[float] | None = None) -> dict:
    """The figures `slow_end_rates` and `decode_trace` read, from a benchmark_serving results file: its
    per-request input_lens, output_lens and ttfts (a request that returned no token has output 0 and
    ttft 0), and request `trace_request`'s inter-token gaps (its `itls` entry unless given)."""
    answered = [(n, t) for n, out, t in zip(results["input_lens"], results["output_lens"], results["ttfts"])
                if out > 0]
    if not answered:
        raise ValueError("no request in the results returned a token")
    itls = trace_itls if trace_itls is not None else results["itls"][trace_request]
    return {"duration_s": results["duration"],
            "prompt_tokens": results["total_input_tokens"],
            "output_tokens": results["total_output_tokens"],
            "answered_requests": len(answered),
            "answered_prompt_tokens": sum(n for n, _ in answered),
            "decode_context_tokens": decode_context_tokens(
                [(n, out) for n, out in zip(results["input_lens"], results["output_lens"]) if out > 0]),
            "first_first_token_s": min(t for _, t in answered),
            "last_first_token_s": max(t for _, t in answered),
            "trace": {"request": trace_request, **decode_trace(itls, results["output_lens"][trace_request])}}


def decode_context_tokens(requests: list[tuple[int, int]]) -> int:
    """Tokens of KV cache read by all decoding steps of (prompt tokens, output tokens) requests: the step
    that makes a request's token k + 1 reads its prompt and its k tokens so far (the first token comes
    from the prefill)."""
    return sum((out - 1) * prompt + out * (out - 1) // 2 for prompt, out in requests if out > 0)


def decode_trace(itls: list[float], output_tokens: int) -> dict:
    """One request's decoding after its first chunk: the steps its later chunks carried (its tokens
    after the first, less the first chunk's, at its mean tokens per chunk; one token per step) and the
    seconds they took. The first chunk's wait holds the other requests' first prefills."""
    if len(itls) < 2 or output_tokens < 2:
        raise ValueError("the traced request needs at least two chunks after its first token")
    per_chunk = (output_tokens - 1) / len(itls)
    return {"output_tokens": output_tokens, "chunks": len(itls),
            "steps": output_tokens - 1 - per_chunk, "seconds": sum(itls[1:])}


def start_s(run: dict, prefill_floor: float) -> float:
    """When the engine's work began at the earliest: the earliest first token less its prefill step
    (`first_step_tokens` at `prefill_floor` tokens/s)."""
    return max(run["first_first_token_s"] - run["first_step_tokens"] / prefill_floor, 0.0)


def slow_end_rates(run: dict, compute_bound: float, prefill_floor: float) -> dict:
    """Tokens/s of the run's model: prefill and decode as the module docstring says. `compute_bound`:
    prefill tokens/s at the card's matmul rate for the run's prompts (their FLOPs per token);
    `prefill_floor`: a prefill rate known to be reached (bounds the first step's length)."""
    return {"prefill": run["answered_prompt_tokens"] / (run["last_first_token_s"] - start_s(run, prefill_floor)),
            "decode": run["output_tokens"] / decode_seconds(run, compute_bound, prefill_floor)}


def decode_seconds(run: dict, compute_bound: float, prefill_floor: float) -> float:
    """The run's time from its start less its answered prompts' prefill at the compute bound: the longest
    its decoding can have taken."""
    decode_s = run["duration_s"] - start_s(run, prefill_floor) - run["answered_prompt_tokens"] / compute_bound
    if decode_s <= 0:
        raise ValueError("the run's prompts alone take longer than its duration at the compute bound")
    return decode_s


def prefill_seconds_range(run: dict, compute_bound: float, prefill_floor: float) -> tuple[float, float]:
    """The least and most time the run's answered prompts' prefill can have taken: at the compute bound,
    and the whole time from the start to the latest first token (`slow_end_rates`' prefill)."""
    least, most = run["answered_prompt_tokens"] / compute_bound, run["last_first_token_s"] - start_s(run, prefill_floor)
    if least > most:
        raise ValueError("the run's prompts got their first tokens faster than the compute bound allows")
    return least, most


def rates_at(run: dict, prefill_s: float, prefill_floor: float) -> dict:
    """The run's rates if its prefill took `prefill_s` (within `prefill_seconds_range`): without chunked
    prefill each engine step either prefilled or decoded, so its decoding took at most the rest of its
    time from the start. prefill, decode: tokens/s; decode_s: that rest; kv_tokens_per_step: its
    `decode_context_tokens` over the steps that rest holds at the traced mean step."""
    decode_s = run["duration_s"] - start_s(run, prefill_floor) - prefill_s
    if decode_s <= 0 or prefill_s <= 0:
        raise ValueError(f"a prefill of {prefill_s:.2f} s leaves the run no time to decode")
    return {"prefill": run["answered_prompt_tokens"] / prefill_s, "decode": run["output_tokens"] / decode_s,
            "decode_s": decode_s, "kv_tokens_per_step": run.get("decode_context_tokens", 0) * mean_step_s(run) / decode_s}


def mean_step_s(run: dict) -> float:
    """The traced request's mean decoding step (`decode_trace`)."""
    return run["trace"]["seconds"] / run["trace"]["steps"]


def kv_tokens_per_step(run: dict, compute_bound: float, prefill_floor: float) -> float:
    """KV cache tokens the run's mean decoding step read: `decode_context_tokens` over the steps in its
    decode time (as `slow_end_rates` counts it: the longest the file allows) at the traced mean step. A run
    copied without it reads none: its KV reads then stay in the overhead, the slower side."""
    return run.get("decode_context_tokens", 0) * mean_step_s(run) / decode_seconds(run, compute_bound, prefill_floor)


def token_bounds(run: dict, offline: dict, peak_flops: float) -> dict:
    """The run's compute bound and prefill floor in its own prompt tokens/s: the card's `peak_flops` and
    offline run `offline`'s FLOP rate over the run's answered prompts' FLOPs per token (flops_per_token)."""
    per_token = prefill_flops.serving_prompt_flops(run) / run["answered_prompt_tokens"]
    return {"compute_bound": peak_flops / per_token,
            "prefill_floor": prefill_flops.offline_flops_per_s(offline) / per_token, "flops_per_token": per_token}
