"""How long `snakemake -n` takes as the grid grows: 30, 60, 120 and 240 cells of the paper config
(7 tasks, 40 languages, both protocols). Writes benchmarks/results/dag_scale.json.

    .venv/bin/python benchmarks/dag_scale.py
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def grid_of(paper: dict, cells: int) -> dict:
    """The paper config cut or grown to `cells` training cells (240: a second seed of each model)."""
    config = copy.deepcopy(paper)
    block = config["grid"][0]
    if cells == 240:
        for name in list(config["models"]):
            config["models"][f"{name}-seed2"] = config["models"][name]
        block["models"] = sorted(config["models"])
    elif cells == 30:
        block["datasets"], block["ranks"] = block["datasets"][:1], block["ranks"]
    elif cells == 60:
        block["datasets"] = block["datasets"][:2]
    return config


def main() -> None:
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cells in (30, 60, 120, 240):
            path = Path(tmp) / f"grid{cells}.yaml"
            path.write_text(yaml.safe_dump(grid_of(paper, cells)))
            t0 = time.time()
            result = subprocess.run([SNAKEMAKE, "-n", "--configfile", str(path)], cwd=ROOT,
                                    capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            seconds = time.time() - t0
            jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
            assert result.returncode == 0, result.stderr[-2000:]
            rows.append({"cells": cells, "train_jobs": int(jobs.get("train_adapter", 0)),
                         "total_jobs": int(jobs.get("total", 0)), "dry_run_seconds": round(seconds, 2)})
            print(rows[-1])
    out = {"machine": f"{os.cpu_count()} cores", "command": "snakemake -n --configfile <grid>.yaml", "rows": rows}
    (ROOT / "benchmarks" / "results" / "dag_scale.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
