"""Numerics of the 8-bit base: maple's int8-stored weight run as a bf16 matmul (training.speed.int8_dequant)
against LLM.int8 (bitsandbytes, threshold 6.0) and against a bf16 base, each vs an fp32 reference.

CPU, small shapes (a 1024x2048 projection, 256 tokens, activations with a few outlier features as
LLM activations have). Writes benchmarks/results/int8_numerics_cpu.json.
  python benchmarks/int8_numerics.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(d_in=2048, d_out=1024, tokens=256, outliers=8, seed=0) -> dict:
    import bitsandbytes as bnb
    import torch

    from maple.train.levers import base_weight

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d_out, d_in, generator=g) * 0.02
    x = torch.randn(tokens, d_in, generator=g)
    cols = torch.randperm(d_in, generator=g)[:outliers]
    x[:, cols] *= 20  # outlier features (|x| > 6 trigger LLM.int8's fp16 decomposition)
    ref = x.double() @ w.double().t()

    layer = bnb.nn.Linear8bitLt(d_in, d_out, bias=False, has_fp16_weights=False, threshold=6.0)
    layer.weight = bnb.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)
    layer = layer.to("cpu")
    w_dq = base_weight(layer, torch.float32, True)  # the int8-stored weight, dequantised (row-wise absmax)

    def err(y):
        y = y.double()
        return {"rel_fro": float((y - ref).norm() / ref.norm()), "max_abs": float((y - ref).abs().max()),
                "ref_max_abs": float(ref.abs().max())}

    def llm_int8_gpu_algorithm():
        # LLM.int8 as bitsandbytes runs it on CUDA: fp16 activations, row-wise int8 quantisation of
        # the non-outlier columns, int8 x int8 -> int32 product, dequantised; outlier columns
        # (|x| > threshold) in fp16 against the dequantised weight. (Its CPU backend skips the
        # activation rounding, so layer(x) here is the weight rounding alone.)
        import bitsandbytes.functional as F

        xh = x.half()
        ca, sca, outlier_cols = F.int8_vectorwise_quant(xh, threshold=6.0)
        y = F.int8_mm_dequant(F.int8_linear_matmul(ca, layer.weight.data), sca, layer.weight.SCB).float()
        if outlier_cols is not None and len(outlier_cols):
            y += (xh[:, outlier_cols].float() @ w_dq[:, outlier_cols].t().half().float())
        return y

    with torch.no_grad():
        paths = {
            "llm_int8_cuda_algorithm": err(llm_int8_gpu_algorithm()),
            "bf16_base": err(x.bfloat16() @ w.bfloat16().t()),
            "llm_int8_cpu_backend": err(layer(x)),
            "maple_int8_dequant_bf16": err(x.bfloat16() @ w_dq.bfloat16().t()),
            "int8_weight_only_fp32": err(x @ w_dq.t()),  # the weight's rounding alone
        }
    return {"shape": {"d_in": d_in, "d_out": d_out, "tokens": tokens, "outlier_features": outliers},
            "reference": "fp32 weights and activations (float64 product)", "error_vs_reference": paths,
            "device": "cpu", "bitsandbytes": bnb.__version__, "torch": torch.__version__}


if __name__ == "__main__":
    result = measure()
    out = ROOT / "benchmarks" / "results" / "int8_numerics_cpu.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for name, e in result["error_vs_reference"].items():
        print(f"{name:26s} rel_fro {e['rel_fro']:.2e}  max_abs {e['max_abs']:.2e}")
    print(f"wrote {out}")
