"""What the plan's rates need of a model: its parameters (the weights a decoding step reads), those a
training token passes through (the input embedding left out), its KV cache per token, and the shape a
prompt token's FLOPs follow (layers, heads, hidden, vocabulary: maple.plan.prefill_flops): from the
model's own config.json (a local folder, or the hub cache at its revision: never the network), else the
paper's two families' figures in anchors.yaml."""

from __future__ import annotations

import json
import os


class ModelShapeError(ValueError):
    """A model whose shape the plan can neither look up nor read: one line naming what to add."""


# config.json keys of a decoder-only transformer with a gated MLP (Llama, Mistral, Qwen2, Gemma, ...)
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")


def shape(name: str, model_cfg: dict, anchors: dict) -> dict:
    """{"params", "params_trained", "arch", "body_params", "source"} for config model `name`: from its own
    config.json where this machine has it (a 13B of the llama family is not Llama-2-7B), else its family's
    anchors."""
    family = model_cfg.get("family", "llama")
    g, t = anchors["generation"], anchors["training"]
    path = config_json(model_cfg)
    if path is not None:
        return {**from_config(json.loads(open(path, encoding="utf-8").read()), path), "source": path}
    if family in g["params"] and family in g["architecture"] and family in t["params_full"]:
        arch = g["architecture"][family]
        return {"params": float(g["params"][family]), "params_trained": float(t["params_full"][family]),
                "arch": arch, "body_params": body_params(arch),
                "source": f"maple/plan/anchors.yaml (family {family}: the paper's 7B; no config.json of "
                          f"{model_cfg.get('path')!r} on this machine)"}
    raise ModelShapeError(
        f"models.{name}.family: {family!r} has no shape in maple/plan/anchors.yaml (known: "
        f"{', '.join(sorted(g['params']))}) and no config.json of {model_cfg.get('path')!r} is on this "
        "machine; give models." + name + ".path as a local folder holding config.json, download the "
        "model into the Hugging Face cache, or add its family to anchors.yaml")


def config_json(model_cfg: dict) -> str | None:
    """The model's config.json: in its local folder, else in the hub cache at its pinned revision."""
    path = model_cfg.get("path") or ""
    if os.path.isdir(path):
        found = os.path.join(path, "config.json")
        return found if os.path.isfile(found) else None
    if not path:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(path, "config.json", revision=model_cfg.get("revision"))
    return found if isinstance(found, str) else None


def from_config(config: dict, where: str = "config.json") -> dict:
    """Parameters and KV cache per token of a gated-MLP decoder from its config.json: per layer the
    query, key, value and output projections, three MLP matrices and two norms; the input embedding;
    the lm_head unless tied to it; served in 16 bits."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ModelShapeError(f"{where}: no {', '.join(missing)}; the plan reads a decoder-only model's "
                              f"{', '.join(REQUIRED)} (and num_key_value_heads, head_dim when present)")
    hidden, layers, heads = int(config["hidden_size"]), int(config["num_hidden_layers"]), int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    mlp, vocab = int(config["intermediate_size"]), int(config["vocab_size"])
    arch = {"layers": layers, "kv_heads": kv_heads, "head_dim": head_dim, "bytes_per_value": 2,
            "heads": heads, "hidden": hidden, "mlp": mlp, "vocab": vocab}
    embedding = vocab * hidden
    head = 0 if config.get("tie_word_embeddings", False) else vocab * hidden
    params = embedding + body_params(arch) + hidden + head
    return {"params": float(params), "params_trained": float(params - embedding), "arch": arch,
            "body_params": body_params(arch)}


def body_params(arch: dict) -> float:
    """Parameters of the transformer layers (no embedding, final norm or lm_head): per layer the query,
    key, value and output projections, three MLP matrices and two norms. A prompt token's matmuls cost
    2 x this (maple.plan.prefill_flops)."""
    hidden, q = arch["hidden"], arch["heads"] * arch["head_dim"]
    kv = arch["kv_heads"] * arch["head_dim"]
    return float(arch["layers"] * (2 * hidden * q + 2 * hidden * kv + 3 * hidden * arch["mlp"] + 2 * hidden))
