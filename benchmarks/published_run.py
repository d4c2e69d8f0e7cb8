"""The figures anchors.yaml's `generation.published_run` copies, from a vLLM benchmark_serving results
file (LambdaLabsML/vllm-benchmark's results/prompt_1280/1xH100-80GB-SXM/
Mistral-7B-Instruct-v0.3_tp1_len2048.json), and the slow-end rates the plan derives from them.

  python benchmarks/published_run.py RESULTS.json [--trace-request 1] [--matmul-tflops 796]
  (its prompts' FLOPs per token: anchors.yaml published_run's shape, the run's model)
  (--trace-itls-key KEY: for a file cut to one request's itls under KEY, as tests/data holds)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maple.plan import published_rates  # noqa: E402
from maple.plan.grid_cost import anchors  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--trace-request", type=int, default=1, help="the request whose decoding steps are timed")
    ap.add_argument("--trace-itls-key", help="the traced request's itls under this key, not itls[request]")
    ap.add_argument("--matmul-tflops", type=float, default=796.0, help="the card's bf16 matmul rate")
    ap.add_argument("--first-step-tokens", type=int, default=2048, help="prompt tokens one prefill step holds")
    args = ap.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    itls = results[args.trace_itls_key] if args.trace_itls_key else None
    run = {**published_rates.run_from_serving_results(results, args.trace_request, itls),
           "first_step_tokens": args.first_step_tokens}
    g = anchors()["generation"]
    bounds = published_rates.token_bounds({**run, "shape": g["published_run"]["shape"]}, g["published_prefill_run"],
                                          args.matmul_tflops * 1e12)
    floor, compute_bound = bounds["prefill_floor"], bounds["compute_bound"]
    rates = published_rates.slow_end_rates(run, compute_bound, floor)
    ends = published_rates.prefill_seconds_range(run, compute_bound, floor)
    out = {**run,
           "start_s": published_rates.start_s(run, floor),
           "mean_step_ms": published_rates.mean_step_s(run) * 1000,
           "kv_tokens_per_step": published_rates.kv_tokens_per_step(run, compute_bound, floor),
           "output_throughput": results["total_output_tokens"] / results["duration"],
           "slow_end_tokens_per_s": {k: round(v) for k, v in rates.items()},
           # both at once: the prefill time at each end of what the figures allow, and the decode it leaves
           "prefill_s_range": list(ends),
           "at_each_end": [{k: round(v, 2) for k, v in published_rates.rates_at(run, s, floor).items()} for s in ends]}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
