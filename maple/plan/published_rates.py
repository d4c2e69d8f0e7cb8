"""The plan's slow-end vLLM rates, from published benchmark runs' figures (anchors.yaml).

A serving benchmark (vLLM's benchmark_serving.py, all prompts sent at once) reports output tokens over
the run's whole duration, which also prefilled the prompts. The plan counts prefill separately, so:

  prefill  the prompt tokens of the requests that returned a token over the latest of their first
           tokens: each of them was prefilled by then, while the engine also decoded (a lower bound);
  decode   the output tokens over the duration less those prompts' prefill at the compute bound (the
           least time prefill can have taken, so the slowest decode rate the run allows).

Both are slow ends: each is the lowest rate the run's figures support. An offline run whose prompts
dwarf its outputs bounds prefill too (`offline_prefill_rate`); the plan takes the higher of the bounds."""

from __future__ import annotations


def run_from_serving_results(results: dict, last_first_token_s: float | None = None) -> dict:
    """The figures `slow_end_rates` reads, from a benchmark_serving results file: its per-request
    input_lens and output_lens (a request that returned no token has output 0 and ttft 0) and the
    latest first token (from its ttfts unless given)."""
    answered = [n for n, out in zip(results["input_lens"], results["output_lens"]) if out > 0]
    if not answered:
        raise ValueError("no request in the results returned a token")
    if last_first_token_s is None:
        last_first_token_s = max(results["ttfts"])
    return {"duration_s": results["duration"],
            "prompt_tokens": results["total_input_tokens"],
            "output_tokens": results["total_output_tokens"],
            "answered_requests": len(answered),
            "answered_prompt_tokens": sum(answered),
            "last_first_token_s": last_first_token_s}


def slow_end_rates(run: dict, compute_bound: float) -> dict:
    """Tokens/s of the run's model: prefill and decode as the module docstring says. `compute_bound`:
    prefill tokens/s at the card's matmul rate for the run's model (2N FLOPs per token)."""
    decode_s = run["duration_s"] - run["answered_prompt_tokens"] / compute_bound
    if decode_s <= 0:
        raise ValueError("the run's prompts alone take longer than its duration at the compute bound")
    return {"prefill": run["answered_prompt_tokens"] / run["last_first_token_s"],
            "decode": run["output_tokens"] / decode_s}


def mean_decode_context(run: dict) -> float:
    """Tokens a sequence of the run holds while decoding, on average: its answered prompt plus half its
    output (decode_rate's convention)."""
    n = run["answered_requests"]
    return run["answered_prompt_tokens"] / n + run["output_tokens"] / n / 2


def offline_prefill_rate(run: dict) -> float:
    """Prompt tokens/s of an offline benchmark (vLLM's benchmark_throughput.py: fixed prompt and output
    lengths): all of its time counted as prefill, though it also decoded, so a lower bound."""
    return run["requests_per_s"] * run["prompt_tokens_per_request"]
