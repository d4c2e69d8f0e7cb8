"""maple.plan.published_rates: the plan's slow-end rates from one published vLLM serving run, against
hand arithmetic, and anchors.yaml's copied figures against the run's own per-request lists."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maple.plan import published_rates
from maple.plan.grid_cost import anchors

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "data" / "vllm_serving_mistral7b_h100_1280.json"
G = anchors()["generation"]


def test_rates_follow_the_docstring_by_hand():
    results = {"duration": 10.0, "total_input_tokens": 3000, "total_output_tokens": 4000,
               "input_lens": [1000, 1500, 500], "output_lens": [10, 0, 30], "ttfts": [0.5, 0.0, 0.25]}
    run = published_rates.run_from_serving_results(results)
    # the request with no output has ttft 0: its prompt is not counted as prefilled by any first token
    assert (run["answered_requests"], run["answered_prompt_tokens"], run["last_first_token_s"]) == (2, 1500, 0.5)
    rates = published_rates.slow_end_rates(run, compute_bound=1500.0)
    # prefill: 1,500 answered prompt tokens by 0.5 s; decode: 4,000 tokens over 10 s less their
    # 1,500 / 1,500 = 1 s of prefill at the compute bound
    assert rates == {"prefill": 3000.0, "decode": 4000 / 9}


def test_a_run_whose_prompts_outlast_it_at_the_compute_bound_is_an_error():
    run = {"duration_s": 1.0, "prompt_tokens": 10_000, "output_tokens": 10, "answered_prompt_tokens": 10_000,
           "last_first_token_s": 0.5}
    with pytest.raises(ValueError, match="longer than its duration"):
        published_rates.slow_end_rates(run, compute_bound=5_000.0)


def test_anchors_copy_the_published_files_figures():
    results = json.loads(RESULTS.read_text())
    # the lists reproduce the file's own totals: they were copied whole
    assert (len(results["input_lens"]), sum(results["input_lens"]), sum(results["output_lens"])) == (
        results["num_prompts"], results["total_input_tokens"], results["total_output_tokens"])
    assert results["total_output_tokens"] / results["duration"] == pytest.approx(results["output_throughput"])
    derived = published_rates.run_from_serving_results(results, results["max_ttft_s"])
    assert {k: G["published_run"][k] for k in derived} == derived


def test_the_plans_slow_ends_by_hand():
    # prefill: 225,328 answered prompt tokens first-answered by 12.133 s; decode: 248,991 tokens over
    # 30.037 s less those prompts at 796e12 / (2 x 7.25e9) = 54,897 tokens/s (4.105 s)
    bound = G["prefill_tokens_per_s"]["matmul_tflops"] * 1e12 / (2 * G["published_run"]["params"])
    rates = published_rates.slow_end_rates(G["published_run"], bound)
    assert rates["prefill"] == pytest.approx(18_572, abs=1)
    assert rates["decode"] == pytest.approx(9_601, abs=1)
    # above the file's output throughput (which includes its prefill), below the compute bound
    assert 8_289.44 < rates["decode"] < bound


def test_the_benchmark_script_prints_the_anchors():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "published_run.py"), str(RESULTS),
                          "--last-first-token-s", "12.132760022999719"],
                         capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["slow_end_tokens_per_s"] == {"prefill": 18572, "decode": 9601}
    assert got["output_throughput"] == pytest.approx(8289.44, abs=0.01)


def test_the_offline_runs_prefill_bound_by_hand():
    # vLLM's own run: 20.72 requests/s of 1,000 prompt tokens each, all of its time counted as prefill
    offline = G["published_prefill_run"]
    assert published_rates.offline_prefill_rate(offline) == pytest.approx(20_720)
    assert published_rates.offline_prefill_rate({**offline, "requests_per_s": 10.0}) == pytest.approx(10_000)
    # the plan takes the higher lower bound: here the offline run's, above the serving run's first tokens
    bound = G["prefill_tokens_per_s"]["matmul_tflops"] * 1e12 / (2 * G["published_run"]["params"])
    serving = published_rates.slow_end_rates(G["published_run"], bound)["prefill"]
    assert serving < published_rates.offline_prefill_rate(offline) < bound
