"""The training-speed benchmark runs end to end on CPU (tiny shapes) and writes the issue's schema."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_benchmark_runs_plain_and_maple_on_the_same_batches(tmp_path):
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tiny.json"
    bench.main(["--tiny", "--no-compile", "--bits", "16,4", "--ranks", "8", "--warmup", "1", "--steps", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert {"device", "versions", "layers", "rows"} <= set(result) and result["layers"] == 2
    assert result["device"].startswith("cpu") and result["setup"]["not_goal_metric"] is True
    keys = {"impl", "bits", "rank", "tokens_per_s", "peak_gib", "loss_first", "loss_last"}
    assert [(r["impl"], r["bits"]) for r in result["rows"]] == [("plain", 16), ("plain", 4), ("maple", 16), ("maple", 4)]
    for row in result["rows"]:
        assert keys <= set(row) and row["tokens_per_s"] > 0 and row["rank"] == 8
    plain = {r["bits"]: r for r in result["rows"] if r["impl"] == "plain"}
    for row in (r for r in result["rows"] if r["impl"] == "maple"):
        assert row["levers"]["fused_lora"] and row["levers"]["compile"] is False  # the paper config's levers ran
        # same model, LoRA initialisation and batch before any update; 4-bit: bitsandbytes' CPU matmul rounds differently
        assert abs(row["loss_first"] - plain[row["bits"]]["loss_first"]) < 1e-3
    assert set(result["maple_over_plain"]) == {"b16-r8", "b4-r8"}
