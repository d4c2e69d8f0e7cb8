"""Verdict of issue 22's GPU command from the JSON files it wrote (benchmarks/gpu_issue22.sh):

  python benchmarks/check_issue22.py OUT_DIR

One line per check, PASS / FAIL / MISSING, then a summary; exit status 0 even on FAIL (the files
are the result; this reads them). Criteria are the issue's: losses fall at every bits x shape; the
merged model within its tolerance of the forward it was trained in, 4-bit within the 16-bit one;
packing within tolerance; maple / plain >= 2 in all six cells with losses agreeing; mfu >= 0.5 at
r8; lever statuses recorded; predicted peaks within 15% of measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

MFU_GOAL, RATIO_GOAL, PEAK_TOL, LOSS_TOL = 0.5, 2.0, 0.15, 0.05


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check(out: Path) -> list[tuple[str, str]]:
    lines = []
    add = lambda ok, what: lines.append(("PASS" if ok else "FAIL", what))  # noqa: E731
    smoke = _load(out / "gpu_smoke.json")
    if smoke is None:
        lines.append(("MISSING", "gpu_smoke.json"))
    else:
        tol16 = {r["model"]: r["merge_vs_trained_tolerance"] for r in smoke["rows"] if r["bits"] == 16}
        for r, d in zip(smoke["rows"], smoke["details"]):
            tag = f"proof {r['model']} b{r['bits']}"
            add(r["loss_last"] < r["loss_first"], f"{tag}: loss {r['loss_first']:.3f} -> {r['loss_last']:.3f}")
            add(r["merge_max_abs_dlogit"] <= d["merge_tolerance"],
                f"{tag}: merged vs peft+bitsandbytes forward {r['merge_max_abs_dlogit']:.3g} (tolerance {d['merge_tolerance']:.3g})")
            tol = min(r["merge_vs_trained_tolerance"], tol16.get(r["model"], float("inf")))
            add(r["merge_vs_trained_max_abs_dlogit"] <= tol,
                f"{tag}: merged vs trained forward {r['merge_vs_trained_max_abs_dlogit']:.3g} (tolerance {tol:.3g}, 16-bit's)")
            diag = {k: round(v, 4) for k, v in d.items() if k.endswith("dlogit") and isinstance(v, float)}
            lines.append(("INFO", f"{tag}: {diag}"))
            add(r["packing_max_abs_dloss"] <= smoke["tolerances"]["packing_abs_nats"],
                f"{tag}: packing {r['packing_max_abs_dloss']:.3g}")
        for m in smoke.get("models") or []:
            add(sum(r["model"] == m for r in smoke["rows"]) == 3, f"proof {m}: all three bit widths ran")
        gen = smoke.get("generation") or {}
        add(bool(gen.get("outputs_are_strings")) and gen.get("loglikelihood", {}).get("all_finite_nonpositive"),
            "proof: HF generation and log-likelihoods on the merged cell")
    bench = _load(out / "train_throughput_gpu.json")
    if bench is None:
        lines.append(("MISSING", "train_throughput_gpu.json"))
    else:
        plain = {(r["bits"], r["rank"]): r for r in bench["rows"] if r["impl"] == "plain"}
        maple = {(r["bits"], r["rank"]): r for r in bench["rows"] if r["impl"] == "maple"}
        lines.append(("INFO", f"benchmark: measured peak {bench.get('peak_tflops')} TFLOP/s on {bench.get('device')}"))
        for cell in [(4, 8), (8, 8), (16, 8), (4, 128), (8, 128), (16, 128)]:
            tag = f"bench b{cell[0]}-r{cell[1]}"
            if cell not in maple or cell not in plain:
                lines.append(("MISSING", tag))
                continue
            m, p = maple[cell], plain[cell]
            ratio = m["tokens_per_s"] / p["tokens_per_s"]
            add(ratio >= RATIO_GOAL, f"{tag}: maple {m['tokens_per_s']:.0f} / plain {p['tokens_per_s']:.0f} tok/s = {ratio:.2f}x")
            add(abs(m["loss_last"] - p["loss_last"]) <= LOSS_TOL,
                f"{tag}: loss last maple {m['loss_last']} vs plain {p['loss_last']}")
            if cell[1] == 8:
                add(m.get("mfu", 0) >= MFU_GOAL, f"{tag}: mfu {m.get('mfu')} ({m.get('flops_per_token')} FLOPs/token)")
            else:
                lines.append(("INFO", f"{tag}: mfu {m.get('mfu')} ({m.get('flops_per_token')} FLOPs/token)"))
            if m.get("predicted_peak_gib"):
                err = m["predicted_peak_gib"] / m["peak_gib"] - 1
                add(abs(err) <= PEAK_TOL, f"{tag}: peak {m['peak_gib']} GiB, predicted {m['predicted_peak_gib']} ({err:+.0%})")
            add(bool(m.get("lever_status")), f"{tag}: levers {m.get('lever_status')} micro-batch "
                f"{m.get('levers', {}).get('micro_batch_size')} recompute {m.get('levers', {}).get('recompute')}")
    for f in sorted(out.glob("train_throughput_gpu_32l_*.json")):
        d = _load(f)
        for r in (d or {}).get("rows", []):
            tag = f"32 layers {d.get('model_shape')} b{r['bits']}-r{r['rank']}"
            lines.append(("INFO", f"{tag}: {r['tokens_per_s']:.0f} tok/s, peak {r['peak_gib']} GiB, mfu {r.get('mfu')}, "
                                  f"levers {r.get('lever_status')}"))
            if r.get("predicted_peak_gib"):
                err = r["predicted_peak_gib"] / r["peak_gib"] - 1
                add(abs(err) <= PEAK_TOL, f"{tag}: predicted peak {r['predicted_peak_gib']} GiB ({err:+.0%})")
    if not list(out.glob("train_throughput_gpu_32l_*.json")):
        lines.append(("MISSING", "32-layer rows"))
    return lines


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    out = Path(argv[0] if argv else ".")
    lines = check(out)
    for status, what in lines:
        print(f"{status:7s} {what}")
    counts = {s: sum(1 for x, _ in lines if x == s) for s in ("PASS", "FAIL", "MISSING")}
    print("summary", json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
