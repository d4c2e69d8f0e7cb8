"""vLLM 0.32's own CPU LoRA ops against maple's (maple/generate/vllm_cpu_lora.py) on one cell's workload.

Each variant in its own process: the base without LoRA, then every adapter of one (model, rank)
group through vLLM's stock ops, then through maple's. Greedy outputs are compared across the two.
Writes benchmarks/results/vllm_cpu_lora_ops.json. Needs `make run`'s adapters.

    .venv/bin/python benchmarks/vllm_cpu_lora_ops.py [--model tiny-llama] [--rank 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(variant: str, config: dict, model: str, rank: int, out: str) -> None:
    from maple import grid, paths
    from maple.generate import vllm_cpu_lora
    from maple.generate.backends import Adapter, VllmBackend
    from maple.generate.run import cell_requests, generate_unique

    if variant == "stock":
        vllm_cpu_lora.install = lambda: False  # keep vLLM's own ops
    requests = cell_requests(config)
    t0 = time.time()
    import vllm  # noqa: F401  (timed apart from the engine)

    import_s = time.time() - t0
    cells = [c for c in grid.generation_groups(config)[f"{model}/lora-r{rank}"] if not c.is_base]
    engine_t0 = time.time()
    backend = VllmBackend(str(ROOT / config["models"][model]["path"]), lora_rank=None if variant == "base" else rank)
    engine_s = time.time() - engine_t0
    per_cell, outputs = {}, {}
    targets = [None] if variant == "base" else cells
    for i, cell in enumerate(targets):
        adapter = None if cell is None else Adapter(cell.id, i + 1, str(ROOT / paths.adapter_dir(cell)), rank)
        t = time.time()
        texts = generate_unique(backend, requests, adapter)
        name = "base" if cell is None else cell.id
        per_cell[name] = time.time() - t
        outputs[name] = texts
    Path(out).write_text(json.dumps({"variant": variant, "import_s": import_s, "engine_s": engine_s,
                                     "generate_s_per_cell": per_cell, "outputs": outputs}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--model", default="tiny-llama")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    from maple import config as maple_config

    os.chdir(ROOT)  # the config's local paths are relative to the project
    config = maple_config.load(args.config, ROOT)
    if args.child:
        child(args.child[0], config, args.model, args.rank, args.child[1])
        return
    results = {}
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    for variant in ("base", "stock", "maple"):
        out = ROOT / ".cache" / f"bench-lora-ops-{variant}.json"
        out.parent.mkdir(exist_ok=True)
        cmd = [sys.executable, __file__, "--config", args.config, "--model", args.model, "--rank", str(args.rank),
               "--child", variant, str(out)]
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": threads})
        results[variant] = json.loads(out.read_text())
    stock, ours = results["stock"]["outputs"], results["maple"]["outputs"]
    same = sum(a == b for cell in stock for a, b in zip(stock[cell], ours[cell]))
    total = sum(len(v) for v in stock.values())
    report = {
        "device": f"cpu: {os.cpu_count()} cores",
        "model": args.model,
        "rank": args.rank,
        "requests_per_cell": len(next(iter(stock.values()))),
        "identical_outputs_stock_vs_maple": same,
        "outputs_compared": total,
        "rows": [{k: v for k, v in results[n].items() if k != "outputs"} for n in ("base", "stock", "maple")],
    }
    from maple.io import versions

    report["versions"] = versions()
    dest = ROOT / "benchmarks" / "results" / "vllm_cpu_lora_ops.json"
    dest.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "versions"}, indent=2))


if __name__ == "__main__":
    main()
