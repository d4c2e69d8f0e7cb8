"""What produced a cell's outputs: the `served_as` column of scores.csv.

    quantised base     the adapter on the base loaded at the cell's 4/8 bits (as trained)
    dequantised merge  merged mode, 4/8 bits: the adapter merged into the base loaded quantised, then
                       de-quantised (maple.train.merge); the merged model holds the quantisation error
    unquantised base   multi_lora mode: the adapter on the 16-bit base. For 16-bit cells that is how
                       they were trained; 4/8-bit cells get it only on CPU (vLLM loads no bitsandbytes
                       model there; on CUDA maple.grid.serving_mode sends them to merged mode), and
                       the report flags those rows
    16-bit merge       merged mode, 16-bit cells
    base model         the un-finetuned base
"""

from __future__ import annotations

QUANTISED_BASE = "quantised base"
DEQUANTISED_MERGE = "dequantised merge"
UNQUANTISED_BASE = "unquantised base"
MERGE_16 = "16-bit merge"
BASE_MODEL = "base model"


def served_as(cell, mode: str) -> str:
    """`cell` a maple.grid cell; `mode` the mode that generated its outputs (maple.grid.serving_mode)."""
    if cell.is_base:
        return BASE_MODEL
    quantised = cell.bits in (4, 8)
    if mode == "merged":
        return DEQUANTISED_MERGE if quantised else MERGE_16
    # multi_lora: one 16-bit base per (model, rank) group serves its adapters
    return UNQUANTISED_BASE


def differs_from_training(bits, served: str | None) -> bool:
    """A 4/8-bit adapter evaluated on a base at another precision than it was trained on."""
    try:
        quantised = int(bits) in (4, 8)
    except (TypeError, ValueError):
        return False
    return quantised and served == UNQUANTISED_BASE
