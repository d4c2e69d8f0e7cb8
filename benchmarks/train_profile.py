"""Where a training step's time goes: torch.profiler over plain's and maple's steps (train_throughput.py's
two impls, same model and batch), top operators by self time.

  python benchmarks/train_profile.py --tiny      (CPU stand-in: toy shapes, not the GPU's profile)
  python benchmarks/train_profile.py             (CUDA: 8 layers of Llama-2-7B width)
Writes benchmarks/results/train_profile_{cpu_tiny,gpu}.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _top(prof, device, n=15):
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)
    total = sum(getattr(e, key, 0) for e in events) or 1
    return [{"op": e.key, "self_ms": round(getattr(e, key, 0) / 1e3, 2), "share": round(getattr(e, key, 0) / total, 3),
             "calls": e.count} for e in events[:n]]


def main(argv=None):
    import torch
    from torch.profiler import ProfilerActivity, profile

    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--bits", type=int, default=16)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args(argv)
    device = "cpu" if args.tiny else "cuda"
    shape, seq, per_step, layers = (bench.TINY, 64, 4, 2) if args.tiny else (bench.LLAMA2_7B, 512, 8, 8)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    rows = bench.fixed_rows(per_step, seq, shape["vocab_size"])
    out = {"device": bench._device_name(device), "bits": args.bits, "rank": args.rank, "layers": layers,
           "not_goal_metric": device == "cpu", "profiles": {}}
    overrides = {"optim": "adamw_torch"} if device == "cpu" else {}
    with tempfile.TemporaryDirectory(prefix="maple-prof-") as tmp:
        model_dir = bench.build_model_dir(Path(tmp) / "model", shape, layers, device)
        with profile(activities=acts) as prof:
            bench.run_plain(model_dir, args.bits, args.rank, [rows] * 3, device, 1, 1e-3)
        out["profiles"]["plain"] = _top(prof, device)
        cfg = bench.maple_train_cfg(str(ROOT / "config" / "paper.yaml"), args.bits, args.rank, per_step, 3, 1e-3, overrides)
        if args.no_compile:
            cfg["speed"] = bench._without_compile(cfg.get("speed"))
        bench._reset(device)
        with profile(activities=acts) as prof:
            _, _, levers = bench.run_maple(model_dir, cfg, rows, device, Path(tmp) / "m")
        out["profiles"]["maple"] = _top(prof, device)
        out["maple_levers"] = levers
    path = ROOT / "benchmarks" / "results" / f"train_profile_{'cpu_tiny' if args.tiny else 'gpu'}.json"
    bench._write(path, out)
    for impl, top in out["profiles"].items():
        print(impl)
        for e in top[:10]:
            print(f"  {e['share']:6.1%}  {e['self_ms']:9.1f} ms  {e['calls']:6d}  {e['op']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
