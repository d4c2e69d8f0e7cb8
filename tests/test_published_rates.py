"""maple.plan.published_rates: the plan's slow-end rates from one published vLLM serving run, against
hand arithmetic, and anchors.yaml's copied figures against the run's own per-request lists."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from maple.plan import published_rates
from maple.plan.grid_cost import anchors

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "data" / "vllm_serving_mistral7b_h100_1280.json"
G = anchors()["generation"]
RUN, OFFLINE = G["published_run"], G["published_prefill_run"]
COMPUTE_BOUND = G["prefill_tokens_per_s"]["matmul_tflops"] * 1e12 / (2 * RUN["params"])
FLOOR = published_rates.offline_prefill_rate(OFFLINE) * OFFLINE["params"] / RUN["params"]


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
    """The real run: its prefill took 4.10-9.39 s of its 27.29 s from the start; at the window's end its
    decoding had 17.90 s, 13,907 tokens/s, not the 10,739 that a compute-bound prefill leaves."""
    lo, hi = published_rates.prefill_seconds_range(RUN, COMPUTE_BOUND, FLOOR)
    assert (round(lo, 2), round(hi, 2)) == (4.1, 9.39)
    assert round(published_rates.rates_at(RUN, hi, FLOOR)["decode"]) == 13_907
    assert round(published_rates.rates_at(RUN, lo, FLOOR)["decode"]) == 10_739


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
    # start: the earliest first token at 2.8448 s less 2,048 tokens at 20,720 x 7.24 / 7.25 tokens/s
    # (0.0990 s) = 2.7458 s. prefill: 225,328 answered prompt tokens by 12.1328 s, over 9.387 s;
    # decode: 248,991 tokens over 30.037 s less the start and those prompts at 796e12 / (2 x 7.25e9)
    # = 54,897 tokens/s (4.105 s)
    start = published_rates.start_s(RUN, FLOOR)
    assert start == pytest.approx(2.8448 - 2048 / (20_720 * 7.24 / 7.25), abs=1e-4)
    rates = published_rates.slow_end_rates(RUN, COMPUTE_BOUND, FLOOR)
    assert rates["prefill"] == pytest.approx(225_328 / (12.13276 - start), abs=0.5)
    assert rates["prefill"] == pytest.approx(24_005, abs=1)
    assert rates["decode"] == pytest.approx(248_991 / (30.03713 - start - 225_328 / COMPUTE_BOUND), abs=0.5)
    assert rates["decode"] == pytest.approx(10_738, abs=1)
    # above the file's output throughput (which includes its prefill and its idle start), below the bound
    assert 8_289.44 < rates["decode"] < COMPUTE_BOUND


def test_the_benchmark_script_prints_the_anchors():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "published_run.py"), str(RESULTS),
                          "--trace-itls-key", "itls_request_1"],
                         capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    # the fixture's times are rounded to the microsecond: within a token/s of anchors.yaml's
    assert got["slow_end_tokens_per_s"] == {"prefill": pytest.approx(24_005, abs=1), "decode": pytest.approx(10_738, abs=1)}
    assert got["mean_step_ms"] == pytest.approx(19.67, abs=0.01)
    assert got["output_throughput"] == pytest.approx(8289.44, abs=0.01)


def test_the_offline_runs_prefill_bound_by_hand():
    # vLLM's own run: 20.72 requests/s of 1,000 prompt tokens each, all of its time counted as prefill
    assert published_rates.offline_prefill_rate(OFFLINE) == pytest.approx(20_720)
    assert published_rates.offline_prefill_rate({**OFFLINE, "requests_per_s": 10.0}) == pytest.approx(10_000)
    # the plan takes the higher lower bound: here the serving run's first tokens, above the offline run's
    serving = published_rates.slow_end_rates(RUN, COMPUTE_BOUND, FLOOR)["prefill"]
    assert published_rates.offline_prefill_rate(OFFLINE) < serving < COMPUTE_BOUND
