"""Memory model of one cell's training step, and the micro-batch / recomputation it allows.

peak = base weights (bytes per parameter of the bit width) + embeddings and lm_head (bf16)
     + de-quantised bf16 copies of quantised layers that a compiled block keeps for backward
     + LoRA parameters, gradients and AdamW states (fp32: 16 bytes per parameter)
     + activations per token per layer (no recomputation: `act_no_recompute`; full: the layer
       input plus one layer's activations) + logits per token (bf16 logits, fp32 loss copy, grad)
     + a constant (allocator slack, workspaces).
The per-token coefficients and the constant are fitted to measured peaks (memory_fit.yaml, least
squares over the rows it lists); `predict` is what `levers.resolve` uses with the card's memory
(`training.speed.*.card_memory_gib`, the paper grid's 80 GB) to pick micro-batch and recomputation.
"""

from __future__ import annotations

from pathlib import Path

GIB = 2**30
FIT_FILE = Path(__file__).with_name("memory_fit.yaml")
BYTES_PER_PARAM = {16: 2.0, 8: 1.0 + 4 / 4096, 4: 0.5 + 0.127 / 8 * 4}  # bf16; int8 + row scale; nf4 + dq absmax
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
HEADROOM = 0.9  # plan to at most 90% of the card: fragmentation, the CUDA context, eval spikes


def projection_shapes(shape: dict) -> dict:
    """(in, out) of each decoder-layer projection."""
    h, i = shape["hidden_size"], shape["intermediate_size"]
    kv = shape["num_key_value_heads"] * (h // shape["num_attention_heads"])
    return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def layer_params(shape: dict) -> int:
    return sum(a * b for a, b in projection_shapes(shape).values())


def lora_params(shape: dict, layers: int, rank: int, targets=PROJECTIONS) -> int:
    return layers * rank * sum(a + b for name, (a, b) in projection_shapes(shape).items() if name in targets)


def flops_per_token(shape: dict, layers: int, rank: int, seq_len: int) -> float:
    """Model FLOPs of one trained token with LoRA on a frozen base (recomputation not counted):
    forward 2N and input gradients 2N over the base matmuls incl. lm_head (no weight gradients),
    6 per LoRA parameter (forward, input and weight gradients), attention scores and values
    forward + backward 12 x layers x hidden x seq (as in PaLM's MFU, no causal discount)."""
    n_base = layers * layer_params(shape) + shape["vocab_size"] * shape["hidden_size"]
    return 4.0 * n_base + 6.0 * lora_params(shape, layers, rank) + 12.0 * layers * shape["hidden_size"] * seq_len


def terms(shape: dict, layers: int, bits: int, rank: int, tokens: int, recompute: str, compiled: bool) -> dict:
    """Bytes of each fixed term, and the per-token multipliers of the fitted coefficients."""
    h, v = shape["hidden_size"], shape["vocab_size"]
    lp = layer_params(shape)
    fixed = {
        "base_weights": layers * lp * BYTES_PER_PARAM[bits],
        "embeddings_lm_head": 2 * v * h * 2.0,
        "dequantised_kept": layers * lp * 2.0 if (bits in (4, 8) and compiled and recompute == "none") else 0.0,
        "lora_states": lora_params(shape, layers, rank) * 16.0,
    }
    per_token = {
        # tokens x layers x hidden: the activations one layer keeps per token
        "act": tokens * (layers if recompute == "none" else 1) * h,
        # full/selective keep each layer's input (bf16) besides one layer's activations
        "layer_inputs": tokens * layers * h * 2.0 if recompute != "none" else 0.0,
        "logits": tokens * v,
    }
    return {"fixed": fixed, "per_token": per_token}


def load_fit(path: Path = FIT_FILE) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def predict(shape: dict, layers: int, bits: int, rank: int, tokens: int, recompute: str = "none",
            compiled: bool = True, fit: dict | None = None) -> float:
    """Predicted peak of torch.cuda.max_memory_allocated, GiB."""
    fit = fit or load_fit()["coefficients"]
    t = terms(shape, layers, bits, rank, tokens, recompute, compiled)
    # full recomputation keeps one layer's activations at a time: the same per-layer coefficient
    total = sum(t["fixed"].values()) + fit["act_bytes_per_hidden"] * t["per_token"]["act"] + t["per_token"]["layer_inputs"]
    total += fit["logit_bytes"] * t["per_token"]["logits"] + fit["constant_gib"] * GIB
    return total / GIB


def fit_coefficients(rows: list[dict]) -> dict:
    """Least squares of the per-token coefficients and the constant over measured rows
    (each: shape, layers, bits, rank, tokens, recompute, compiled, peak_gib)."""
    import numpy as np

    keys = ["act_bytes_per_hidden", "logit_bytes", "constant_gib"]
    a, y = [], []
    for r in rows:
        t = terms(r["shape"], r["layers"], r["bits"], r["rank"], r["tokens"], r["recompute"], r["compiled"])
        a.append([t["per_token"]["act"], t["per_token"]["logits"], GIB])
        y.append(r["peak_gib"] * GIB - sum(t["fixed"].values()) - t["per_token"]["layer_inputs"])
    a, y = np.array(a), np.array(y)
    used = [j for j in range(len(keys)) if a[:, j].any()]
    sol = np.linalg.lstsq(a[:, used], y, rcond=None)[0]
    if sol[-1] < 0:  # a negative constant is not memory: refit without it
        used = used[:-1]
        sol = np.linalg.lstsq(a[:, used], y, rcond=None)[0]
    coef = {k: 0.0 for k in keys}
    for j, s in zip(used, sol):
        coef[keys[j]] = float(s)
    return coef


def plan(shape: dict, layers: int, bits: int, rank: int, per_step: int, seq_len: int, card_gib: float,
         compiled: bool = True, fit: dict | None = None) -> dict:
    """The largest micro-batch (a divisor of the examples per step) and the cheapest recomputation
    whose predicted peak fits HEADROOM of the card. Tokens per micro-batch: examples x seq_len
    (the padded worst case)."""
    budget = HEADROOM * card_gib
    divisors = [m for m in range(per_step, 0, -1) if per_step % m == 0]
    for recompute in ("none", "selective", "full"):
        for micro in divisors:
            peak = predict(shape, layers, bits, rank, micro * seq_len, recompute if recompute != "selective" else "full",
                           compiled, fit)
            if recompute == "selective":
                # keeps matmul/attention outputs: between none and full; taken as their mean
                peak = (peak + predict(shape, layers, bits, rank, micro * seq_len, "none", compiled, fit)) / 2
            if peak <= budget:
                return {"micro_batch_size": micro, "recompute": recompute, "predicted_peak_gib": round(peak, 2),
                        "card_memory_gib": card_gib}
    return {"micro_batch_size": 1, "recompute": "full", "card_memory_gib": card_gib,
            "predicted_peak_gib": round(predict(shape, layers, bits, rank, seq_len, "full", compiled, fit), 2),
            "warning": "predicted peak over the card even at micro-batch 1 with full recomputation"}


def model_shape(config) -> dict:
    """The memory model's shape keys from a transformers config (or a dict of them)."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    shape = {k: get(k) for k in ("hidden_size", "intermediate_size", "num_attention_heads", "vocab_size")}
    shape["num_key_value_heads"] = get("num_key_value_heads") or shape["num_attention_heads"]
    return shape
