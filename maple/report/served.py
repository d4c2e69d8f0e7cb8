"""The report's served-model check (maple.generate.check): one row per finetuned cell; a cell whose
served outputs look like its base model's is flagged here, and its scores stay in every table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

TITLE = "Served-model check: is the served model the trained one?"
COLUMNS = ["cell", "mode", "served_as", "task", "sample", "differs_from_base", "equals_merged", "base_recorded",
           "check"]
NOTE = ("Per finetuned cell, a fixed sample of its recorded outputs compared, on their first tokens, with the base "
        "model's outputs on the same prompts (its base cell's recorded ones; decoded where the grid has no base cell) "
        "and, in multi_lora mode, with the adapter merged in memory. differs_from_base: sampled prompts whose output "
        "differs from the base model's (0 = the adapter was not applied, as with a LoRA request answered by the "
        "base); equals_merged: those where the LoRA-served output equals the merged adapter's; base_recorded: those "
        "whose base output was recorded by the base cell. A failing cell is flagged, not dropped: its scores stay "
        "in the tables.")


def check_files(paths: list[str]) -> list[Path]:
    """The check records among paths: a file each, or every record in a multi_lora group's directory."""
    out = []
    for p in map(Path, paths or []):
        out += sorted(p.rglob("*.json")) if p.is_dir() else [p] if p.exists() else []
    return out


def served_check_frame(files: list[str]) -> pd.DataFrame:
    """One row per check record in files (files, or multi_lora group directories)."""
    rows = []
    for f in check_files(files):
        rec = json.loads(f.read_text(encoding="utf-8"))
        rows.append({**{k: rec.get(k) for k in COLUMNS[:-1]},
                     "check": "ok" if rec.get("passed") else f"FAILED: {rec.get('reason')}"})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("cell").reset_index(drop=True) if not frame.empty else frame


def served_check_blocks(files: list[str]) -> tuple[list, list[str]]:
    """([(heading, note, frame)] for the HTML report, the failing cells); the heading names them."""
    frame = served_check_frame(files)
    failed = frame[frame["check"] != "ok"]["cell"].tolist() if not frame.empty else []
    heading = (f"{len(failed)} of {len(frame)} cells FAILED: {', '.join(failed)}" if failed
               else f"all {len(frame)} checked cells passed")
    return [(heading, NOTE, frame)], failed
