"""maple.plan.published_rates: the plan's slow-end rates from one published vLLM serving run, against
hand arithmetic, and anchors.yaml's copied figures against the run's own per-request lists."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from maple.plan import model_shape, prefill_flops, published_rates
from maple.plan.grid_cost import anchors

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "data" / "vllm_serving_mistral7b_h100_1280.json"
G = anchors()["generation"]
RUN, OFFLINE, OFFLINE_V1 = G["published_run"], G["published_prefill_run"], G["published_prefill_run_v1"]
PEAK = G["prefill_tokens_per_s"]["matmul_tflops"] * 1e12
BOUNDS = published_rates.token_bounds(RUN, OFFLINE, PEAK)
COMPUTE_BOUND, FLOOR = BOUNDS["compute_bound"], BOUNDS["prefill_floor"]
# Llama-3(.1)-8B's and Mistral-7B's config.json: 32 layers, hidden 4096, 32 heads of 128, 8 KV heads, MLP 14336
BODY = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096)


def test_rates_follow_the_docstring_by_hand():
    results = {"duration": 10.0, "total_input_tokens": 3000, "total_output_tokens": 4000,
               "input_lens": [1000, 1500, 500], "output_lens": [21, 0, 30], "ttfts": [0.5, 0.0, 0.25],
               "itls": [[1.0, 0.5, 0.5], [], [0.1] * 3]}
    run = published_rates.run_from_serving_results(results, trace_request=0)
    # the request with no output has ttft 0: its prompt is not counted as prefilled by any first token
    assert (run["answered_requests"], run["answered_prompt_tokens"]) == (2, 1500)
    assert (run["first_first_token_s"], run["last_first_token_s"]) == (0.25, 0.5)
    # request 0: 20 tokens after its first in 3 chunks; after the first chunk (20 / 3 tokens), 13.33 steps in 1 s
    assert run["trace"] == {"request": 0, "output_tokens": 21, "chunks": 3, "steps": pytest.approx(40 / 3),
                            "seconds": 1.0}
    # the first step held at most 100 tokens at no less than 1,000 tokens/s: the engine began at 0.15 s
    run["first_step_tokens"] = 100
    assert published_rates.start_s(run, 1000.0) == pytest.approx(0.15)
    rates = published_rates.slow_end_rates(run, compute_bound=1500.0, prefill_floor=1000.0)
    # prefill: 1,500 answered prompt tokens from 0.15 s to 0.5 s; decode: 4,000 tokens over 10 s less
    # the 0.15 s start and 1,500 / 1,500 = 1 s of prefill at the compute bound
    assert rates == {"prefill": pytest.approx(1500 / 0.35), "decode": pytest.approx(4000 / 8.85)}
    assert published_rates.mean_step_s(run) == pytest.approx(0.075)
    # KV read while decoding: request 0's 20 steps read 1,000 + 1 .. 1,000 + 20 tokens, request 2's 29
    # steps 500 + 1 .. 500 + 29; request 1 returned nothing
    assert run["decode_context_tokens"] == 20 * 1000 + 210 + 29 * 500 + 435 == 35_145
    # spread over the 8.85 s of decoding at 75 ms a step: 118 steps of 297.84 tokens
    assert published_rates.kv_tokens_per_step(run, 1500.0, 1000.0) == pytest.approx(35_145 * 0.075 / 8.85)
    # a run copied without its context tokens counts no KV read: all of its step beyond the weights is overhead
    bare = {k: v for k, v in run.items() if k != "decode_context_tokens"}
    assert published_rates.kv_tokens_per_step(bare, 1500.0, 1000.0) == 0
    # a first step longer than the earliest first token starts the run at 0, not before
    assert published_rates.start_s(run, 10.0) == 0.0


def test_the_runs_prefill_and_decode_share_its_duration_by_hand():
    """Without chunked prefill a step prefills or decodes: a prefill time within its range leaves the
    rest of the run, from its start, to decoding. Each end of the range gives one of the each-alone
    slow ends; together they cannot both hold."""
    results = {"duration": 10.0, "total_input_tokens": 3000, "total_output_tokens": 4000,
               "input_lens": [1000, 1500, 500], "output_lens": [21, 0, 30], "ttfts": [0.5, 0.0, 0.25],
               "itls": [[1.0, 0.5, 0.5], [], [0.1] * 3]}
    run = {**published_rates.run_from_serving_results(results, trace_request=0), "first_step_tokens": 100}
    # 1,500 answered prompt tokens: at least 0.1 s at 15,000 tokens/s, at most the 0.35 s from the start
    # (0.15 s) to the latest first token
    lo, hi = published_rates.prefill_seconds_range(run, 15_000.0, 1000.0)
    assert (lo, hi) == (pytest.approx(0.1), pytest.approx(0.35))
    at_hi = published_rates.rates_at(run, hi, 1000.0)
    assert at_hi == {"prefill": pytest.approx(1500 / 0.35), "decode": pytest.approx(4000 / 9.5),
                     "decode_s": pytest.approx(9.5), "kv_tokens_per_step": pytest.approx(35_145 * 0.075 / 9.5)}
    alone = published_rates.slow_end_rates(run, 15_000.0, 1000.0)
    assert at_hi["prefill"] == pytest.approx(alone["prefill"])
    at_lo = published_rates.rates_at(run, lo, 1000.0)
    assert at_lo["decode"] == pytest.approx(alone["decode"]) == pytest.approx(4000 / 9.75)
    assert at_lo["kv_tokens_per_step"] == pytest.approx(published_rates.kv_tokens_per_step(run, 15_000.0, 1000.0))
    with pytest.raises(ValueError, match="no time to decode"):
        published_rates.rates_at(run, 9.85, 1000.0)
    # first tokens faster than the compute bound allows: the figures contradict each other
    with pytest.raises(ValueError, match="faster than the compute bound"):
        published_rates.prefill_seconds_range(run, 1500.0, 1000.0)


def test_the_published_runs_split_between_its_bounds():
    """The real run: its prefill took 3.97-9.38 s of its 27.28 s from the start; at the window's end its
    decoding had 17.90 s, 13,907 tokens/s, not the 10,680 that a compute-bound prefill leaves."""
    lo, hi = published_rates.prefill_seconds_range(RUN, COMPUTE_BOUND, FLOOR)
    assert (round(lo, 2), round(hi, 2)) == (3.97, 9.38)
    assert round(published_rates.rates_at(RUN, hi, FLOOR)["decode"]) == 13_907
    assert round(published_rates.rates_at(RUN, lo, FLOOR)["decode"]) == 10_680


def test_a_run_whose_prompts_outlast_it_at_the_compute_bound_is_an_error():
    run = {"duration_s": 1.0, "prompt_tokens": 10_000, "output_tokens": 10, "answered_prompt_tokens": 10_000,
           "first_first_token_s": 0.1, "last_first_token_s": 0.5, "first_step_tokens": 10}
    with pytest.raises(ValueError, match="longer than its duration"):
        published_rates.slow_end_rates(run, compute_bound=5_000.0, prefill_floor=1_000.0)


def test_a_trace_needs_two_chunks():
    with pytest.raises(ValueError, match="two chunks"):
        published_rates.decode_trace([0.5], 10)


def test_the_copied_lists_reproduce_the_files_own_figures():
    results = json.loads(RESULTS.read_text())
    # the lists were copied whole: the file's totals and its TTFT summary (over all 1,280, the 0.0s of
    # requests that returned no token included) come back from them
    assert (len(results["input_lens"]), sum(results["input_lens"]), sum(results["output_lens"])) == (
        results["num_prompts"], results["total_input_tokens"], results["total_output_tokens"])
    assert results["total_output_tokens"] / results["duration"] == pytest.approx(results["output_throughput"])
    ttfts = results["ttfts"]
    assert [t == 0.0 for t in ttfts] == [n == 0 for n in results["output_lens"]]
    assert statistics.mean(ttfts) * 1000 == pytest.approx(results["mean_ttft_ms"], abs=1e-3)
    assert statistics.median(ttfts) * 1000 == pytest.approx(results["median_ttft_ms"], abs=1e-3)
    assert statistics.pstdev(ttfts) * 1000 == pytest.approx(results["std_ttft_ms"], abs=1e-3)
    # request 1's chunks: ~10 tokens each, and it ends inside the run
    itls = results["itls_request_1"]
    assert (results["output_lens"][1] - 1) / len(itls) == pytest.approx(9.91, abs=0.01)
    assert ttfts[1] + sum(itls) < results["duration"]


def test_anchors_copy_the_published_files_figures():
    results = json.loads(RESULTS.read_text())
    derived = published_rates.run_from_serving_results(results, 1, results["itls_request_1"])
    # the fixture's times are rounded to the microsecond; anchors.yaml holds the file's own digits
    trace = derived.pop("trace")
    assert {k: RUN[k] for k in derived} == pytest.approx(derived, abs=1e-6)
    assert trace == pytest.approx(RUN["trace"], abs=1e-9)


def test_the_traced_step_is_the_slower_of_the_two_longest_lived_requests_read():
    # request 5 (928 tokens, last chunk at 29.26 s) steps at 19.04 ms, request 1 (883, to 28.96 s) at
    # 19.67 ms: the figure is not one request's accident, and anchors.yaml takes the slower
    results = json.loads(RESULTS.read_text())
    steps = {i: published_rates.mean_step_s(published_rates.run_from_serving_results(results, i, results[f"itls_request_{i}"]))
             for i in (1, 5)}
    assert steps == {1: pytest.approx(0.019675, abs=1e-6), 5: pytest.approx(0.019043, abs=1e-6)}
    assert published_rates.mean_step_s(RUN) == max(steps.values())


def test_more_than_256_sequences_were_in_flight_before_the_first_decoding_step():
    # what anchors.yaml says of the run's max-num-seqs: while request 1 waited for its second chunk,
    # 727 other requests got their first token, and no decoding step ran for request 1
    results = json.loads(RESULTS.read_text())
    first, wait = results["ttfts"][1], results["itls_request_1"][0]
    admitted = sum(1 for t in results["ttfts"] if first < t <= first + wait)
    assert admitted == 727 and sum(1 for t in results["ttfts"] if 0 < t <= first + wait) > 1000


def test_the_plans_slow_ends_by_hand():
    # the run's prompt token, at its answered prompts' mean of 225,328 / 1,095 = 205.8 tokens: 2 x 6.98e9
    # plus 4 x 32 x 32 x 128 x 103.4 (its mean context) plus a 2 x 4096 x 32,768 lm_head per prompt =
    # 14.015 GFLOP. start: the earliest first token at 2.8448 s less 2,048 tokens at vLLM 0.4.2's 326.6
    # TFLOP/s (0.0879 s) = 2.7569 s. prefill: 225,328 answered prompt tokens by 12.1328 s, over 9.376 s;
    # decode: 248,991 tokens over 30.037 s less the start and those prompts at 796 TFLOP/s (3.967 s)
    mean = 225_328 / 1095
    per_token = 2 * BODY + 4 * 32 * 32 * 128 * (mean + 1) / 2 + 2 * 4096 * 32_768 / mean
    assert BOUNDS["flops_per_token"] == pytest.approx(per_token) == pytest.approx(14.015e9, rel=1e-4)
    start = published_rates.start_s(RUN, FLOOR)
    assert start == pytest.approx(2.8448 - 2048 * per_token / 326.61e12, abs=1e-4)
    rates = published_rates.slow_end_rates(RUN, COMPUTE_BOUND, FLOOR)
    assert rates["prefill"] == pytest.approx(225_328 / (12.13276 - start), abs=0.5)
    assert rates["prefill"] == pytest.approx(24_033, abs=1)
    assert rates["decode"] == pytest.approx(248_991 / (30.03713 - start - 225_328 * per_token / 796e12), abs=0.5)
    assert rates["decode"] == pytest.approx(10_680, abs=1)
    # above the file's output throughput (which includes its prefill and its idle start), below the bound
    assert 8_289.44 < rates["decode"] < COMPUTE_BOUND


def test_the_benchmark_script_prints_the_anchors():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "published_run.py"), str(RESULTS),
                          "--trace-itls-key", "itls_request_1"],
                         capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    # the fixture's times are rounded to the microsecond: within a token/s of anchors.yaml's
    assert got["slow_end_tokens_per_s"] == {"prefill": pytest.approx(24_033, abs=1), "decode": pytest.approx(10_680, abs=1)}
    assert got["mean_step_ms"] == pytest.approx(19.67, abs=0.01)
    assert got["output_throughput"] == pytest.approx(8289.44, abs=0.01)


def test_the_offline_runs_prefill_bound_by_hand():
    # vLLM 0.4.2's run: 20.72 requests/s, each a 1,000-token prompt and 99 decoding steps (its first
    # output token comes from the prefill) on Llama-3-8B
    prompt = 1000 * 2 * BODY + 4 * 32 * 32 * 128 * 1000 * 1001 / 2 + 2 * 4096 * 128_256
    decode = 99 * (2 * BODY + 2 * 4096 * 128_256) + 4 * 32 * 32 * 128 * sum(range(1001, 1100))
    assert prefill_flops.offline_flops_per_s(OFFLINE) == pytest.approx(20.72 * (prompt + decode), rel=1e-12)
    assert prefill_flops.offline_flops_per_s(OFFLINE) == pytest.approx(326.6e12, rel=1e-3)
    # in the serving run's prompt tokens/s: above its 20,720 prompt tokens/s, as its decoding counts too
    assert FLOOR == pytest.approx(326.61e12 / BOUNDS["flops_per_token"], rel=1e-4) and FLOOR > 20_720
    # the serving run's first tokens, drawn over their whole window, stay above it and below the compute bound
    serving = published_rates.slow_end_rates(RUN, COMPUTE_BOUND, FLOOR)["prefill"]
    assert FLOOR < serving < COMPUTE_BOUND


def test_the_v1_runs_flop_rate_from_its_printed_figures():
    """PR 12093's V1 run: 1,000 requests of 2,048 prompt and 128 output tokens at 14.24 requests/s on
    Llama-3.1-8B. Its FLOPs over its 1,000 / 14.24 = 70.2 s lower-bound a prefill step's FLOP rate."""
    assert OFFLINE_V1["shape"]["body_params"] == BODY == 6_979_584_000
    # the printed total: 14.24 x (2,048 + 128) = 30,986 tokens/s (printed 30986.15; output 1822.71)
    assert 14.24 * (2048 + 128) == pytest.approx(30_986.15, abs=0.5) and 14.24 * 128 == pytest.approx(1822.71, abs=0.5)
    prefill = 2_048_000 * 2 * BODY + 1000 * 2048 * 2049 / 2 * 524_288
    lm_heads = 1000 * 2 * 4096 * 128_256
    decode = 127_000 * (2 * BODY + 2 * 4096 * 128_256) + 1000 * 524_288 * sum(range(2049, 2176))
    rate = (prefill + lm_heads + decode) / (1000 / 14.24)
    assert prefill_flops.offline_flops_per_s(OFFLINE_V1) == pytest.approx(rate, rel=1e-12)
    assert rate == pytest.approx(451.9e12, rel=1e-4)
    # above the 2 x 6.98e9 x 29,164 prompt tokens/s = 407 TFLOP/s that counting prompts' matmuls alone gives,
    # below the card's 796 TFLOP/s matmul peak
    assert 2 * BODY * 29_164 < rate < PEAK


def test_flops_over_uncached_positions_match_a_brute_force_loop():
    shape = OFFLINE_V1["shape"]
    per_pair, lm_head = 4 * 32 * 32 * 128, 2 * 4096 * 128_256
    for prompt, uncached in ((1, 1), (2048, 2048), (3875, 589), (2834, 2331), (100, 0)):
        cached = prompt - uncached
        assert prefill_flops.attention_pairs(prompt, cached) == sum(c for c in range(cached + 1, prompt + 1))
        loop = sum(2 * BODY + per_pair * c for c in range(cached + 1, prompt + 1)) + lm_head
        assert prefill_flops.prompt_flops(shape, prompt, uncached) == pytest.approx(loop, rel=1e-12)
    # decoding 5 tokens after a 10-token prompt: 4 steps at positions 11-14, each with an lm_head
    assert prefill_flops.decode_flops(shape, 10, 5) == pytest.approx(
        sum(2 * BODY + lm_head + per_pair * c for c in range(11, 15)), rel=1e-12)
    # a job's prompts: the first 3,941 tokens uncached of its own 3,941, three later 589 of 3,875
    assert prefill_flops.uncached_flops(shape, 3875, 4, 3941, 589) == pytest.approx(
        prefill_flops.prompt_flops(shape, 3941, 3941) + 3 * prefill_flops.prompt_flops(shape, 3875, 589), rel=1e-12)
    # where the counted tokens exceed the prompts (a tiny job), every prompt is computed whole
    assert prefill_flops.uncached_flops(shape, 100, 2, 100, 150) == 2 * prefill_flops.prompt_flops(shape, 100, 100)
    # log-likelihood requests: two of 10 tokens from position 1, logits at all 10 positions
    assert prefill_flops.loglik_flops(shape, 2, 20) == pytest.approx(
        2 * sum(2 * BODY + lm_head + per_pair * c for c in range(1, 11)), rel=1e-12)


def test_late_uncached_tokens_cost_more_than_short_prompts():
    """At one FLOP rate, MLQA-like tokens (589 uncached at positions 3,287-3,875) go slower than a
    short prompt's (the serving run's 206 tokens), and a Llama-2-7B (no GQA, same heads) as Mistral-7B."""
    rate = prefill_flops.offline_flops_per_s(OFFLINE_V1)
    for family in ("mistral", "llama"):
        shape = model_shape.shape("m", {"family": family}, anchors())
        fshape = {**shape["arch"], "body_params": shape["body_params"]}
        late = rate * 589 / prefill_flops.prompt_flops(fshape, 3875, 589)
        short = rate * 206 / prefill_flops.prompt_flops(fshape, 206, 206)
        assert late < 0.9 * short, family
        # 4 x 32 x 32 x 128 FLOPs per (token, key) pair at a mean position of 3,581, one lm_head
        assert prefill_flops.prompt_flops(fshape, 3875, 589) == pytest.approx(
            589 * (2 * shape["body_params"] + 524_288 * 3581) + 2 * 4096 * 32_000, rel=1e-12)


def test_measured_attention_pairs_replace_the_mean_prompts():
    """Later prompts of uneven length: the plan takes their uncached tokens' attention pairs as measured
    request by request (steady_pairs), which a prompt of the mean length undercounts (pairs grow with the
    square of the length)."""
    from maple.plan import prefill_flops as pf

    shape = {"layers": 2, "heads": 2, "head_dim": 4, "hidden": 8, "vocab": 10, "body_params": 100.0}
    cached = 50
    lengths = [100, 300]  # two later prompts behind the same 50 cached tokens
    pairs = [sum(range(cached + 1, p + 1)) for p in lengths]
    mean_p, steady = sum(lengths) / 2, sum(p - cached for p in lengths) / 2
    flops = pf.uncached_flops(shape, mean_p, 3, mean_p, steady, steady_pairs=sum(pairs) / 2)
    first = pf.prompt_flops(shape, mean_p, mean_p)
    by_hand = first + sum(2 * 100.0 * (p - cached) + pf.attention_flops_per_pair(shape) * q + pf.lm_head_flops(shape)
                          for p, q in zip(lengths, pairs))
    assert flops == pytest.approx(by_hand)
    assert flops > pf.uncached_flops(shape, mean_p, 3, mean_p, steady)  # the mean prompt's pairs are fewer
