"""The figures anchors.yaml's `generation.published_run` copies, from a vLLM benchmark_serving results
file (LambdaLabsML/vllm-benchmark's results/prompt_1280/1xH100-80GB-SXM/
Mistral-7B-Instruct-v0.3_tp1_len2048.json), and the slow-end rates the plan derives from them.

  python benchmarks/published_run.py RESULTS.json [--params 7.25e9] [--matmul-tflops 796]
  (--last-first-token-s S: for a file cut to its summary and input/output lists, as tests/data holds)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maple.plan.published_rates import run_from_serving_results, slow_end_rates  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--params", type=float, default=7.25e9, help="the run's model parameters (2N FLOPs per token)")
    ap.add_argument("--matmul-tflops", type=float, default=796.0, help="the card's bf16 matmul rate")
    ap.add_argument("--last-first-token-s", type=float, help="the latest first token, when the file has no ttfts")
    args = ap.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    run = run_from_serving_results(results, args.last_first_token_s)
    rates = slow_end_rates(run, args.matmul_tflops * 1e12 / (2 * args.params))
    out = {**run,
           # the file's own summary, recomputed: a check that it was read right
           **({"mean_ttft_ms": statistics.mean(results["ttfts"]) * 1000} if "ttfts" in results else {}),
           "output_throughput": results["total_output_tokens"] / results["duration"],
           "slow_end_tokens_per_s": {k: round(v) for k, v in rates.items()}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
