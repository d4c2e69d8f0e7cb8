"""Merge a trained adapter into its base (merge_and_unload) and save safetensors.

4/8-bit cells: the base is loaded quantised exactly as in training, dequantised to the compute
dtype, and the adapter merged into those weights, so the merged model holds the quantisation
error the adapter was trained against (vLLM cannot serve bitsandbytes weights on CPU).
"""

from __future__ import annotations

import time
from pathlib import Path

from maple.io import atomic_dir, versions, write_record


def load_for_merge(base_path: str, bits: int, device: str, revision=None, trust_remote_code: bool = False):
    """The base as the adapter saw it in training, in plain (de-quantised) floating point."""
    from maple.models import compute_dtype, load_base_model

    model = load_base_model(base_path, bits, device, revision, trust_remote_code)
    if bits in (4, 8):
        model = model.dequantize()
        model = model.to(compute_dtype(device))
    return model


def merged_model(base_path: str, adapter_dir: str, bits: int, device: str, revision=None, trust_remote_code=False):
    from peft import PeftModel

    base = load_for_merge(base_path, bits, device, revision, trust_remote_code)
    return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()


def merge_adapter(
    cell_id: str,
    model_cfg: dict,
    adapter_dir: str,
    out_dir: str,
    bits: int,
    device: str = "cpu",
    trust_remote_code: bool = False,
) -> dict:
    from maple.models import compute_dtype, load_tokenizer

    started = time.time()
    model = merged_model(model_cfg["path"], adapter_dir, bits, device, model_cfg.get("revision"), trust_remote_code)
    tokenizer = load_tokenizer(model_cfg["path"], model_cfg.get("revision"), trust_remote_code)
    model.config.use_cache = True
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        record = {
            "cell": cell_id,
            "adapter": adapter_dir,
            "base": model_cfg,
            "bits_in_training": bits,
            "dequantised": bits in (4, 8),
            "merged_dtype": str(compute_dtype(device)).replace("torch.", ""),
            "note": (
                f"base loaded at {bits} bits as in training, de-quantised, then merged"
                if bits in (4, 8)
                else "adapter merged into the unquantised base"
            ),
            "versions": versions(),
            "wall_seconds": time.time() - started,
        }
        write_record(Path(tmp) / "merge.json", record)
    return record
