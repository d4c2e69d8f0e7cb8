"""The study grid: cells, ids, groups; and the paper grid's dry run."""

import re
import subprocess
import sys
import time
from pathlib import Path

from maple import config as maple_config
from maple import grid

ROOT = Path(__file__).resolve().parent.parent


def test_cell_ids_round_trip():
    for cell in [grid.Cell("m", "alpaca", 8, 4), grid.Cell("m")]:
        assert grid.parse_cell(cell.id) == cell
    assert grid.Cell("m").id == "m/none/base"
    for cell_id in ["m/alpaca/r8-b4", "m/none/base"]:
        assert re.fullmatch(grid.WILDCARD_CONSTRAINTS["cell"], cell_id)
    assert not re.fullmatch(grid.WILDCARD_CONSTRAINTS["cell"], "m/alpaca/r8-b5")


def test_paper_grid_has_120_cells_and_two_bases():
    config = maple_config.load_yaml(ROOT / "config" / "paper.yaml")
    cells = grid.training_cells(config)
    assert len(cells) == 120 == len(set(cells))
    assert {c.bits for c in cells} == {4, 8, 16} and {c.rank for c in cells} == {8, 16, 32, 64, 128}
    assert [c.id for c in grid.base_cells(config)] == ["llama-2-7b/none/base", "mistral-7b/none/base"]
    assert len(grid.generation_groups(config)) == 10


def test_union_of_blocks_drops_duplicates():
    config = {"grid": [
        {"models": ["a"], "datasets": ["x", "y"], "ranks": [8], "bits": [16]},
        {"models": ["a"], "datasets": ["x"], "ranks": [8, 16], "bits": [4, 16]},
    ]}
    assert len(grid.training_cells(config)) == 2 + 4 - 1


def test_paper_dry_run_lists_120_training_jobs_quickly_and_touches_nothing(tmp_path):
    before = sorted(p.name for p in ROOT.iterdir())
    t0 = time.time()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--configfile", "config/paper.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.time() - t0
    assert result.returncode == 0, result.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    assert counts["train_adapter"] == "120"
    # one generation job per cell (120 trained + 2 base models) and task (7)
    assert counts["merge_adapter"] == "120" and counts["generate_outputs"] == str(122 * 7)
    # hub snapshots on the submit host: both models, the instruction-tuned judge, and all 7 eval sets
    assert counts["download_model"] == "3" and counts["download_eval"] == "7"
    assert elapsed < 20
    assert sorted(p.name for p in ROOT.iterdir()) == before
