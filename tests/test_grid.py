"""The study grid: cells, ids, groups; and the paper grid's dry run."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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
    # one generation job per cell (120 trained + 2 base models) for its 7 tasks (evaluation.task_groups),
    # each scored on its own
    assert counts["merge_adapter"] == "120" and counts["generate_task_group_outputs"] == "122"
    assert "generate_outputs" not in counts and counts["score_outputs"] == str(122 * 7)
    assert counts["check_served_model"] == "120"  # is each served model the trained one
    # on CUDA each task's requests are built once per model, on CPU, off the GPU jobs (maple.generate.prebuilt)
    assert counts["build_requests"] == str(2 * 7)
    # hub snapshots on the submit host: both models, the instruction-tuned judge, and all 7 eval sets
    assert counts["download_model"] == "3" and counts["download_eval"] == "7"
    assert elapsed < 20
    assert sorted(p.name for p in ROOT.iterdir()) == before


def _embedded(**top) -> dict:
    config = maple_config.load(ROOT / "config.yaml", ROOT)
    config.update(top)
    return config


def test_multi_lora_on_cuda_routes_quantised_cells_to_merged_mode():
    """vLLM's LoRA requests would run 4/8-bit adapters on the group's 16-bit base: on CUDA they go to
    merged mode (de-quantised merge); on CPU, where vLLM loads no bitsandbytes model, they stay."""
    from maple.generate.served import DEQUANTISED_MERGE, UNQUANTISED_BASE, served_as

    for device, quantised_mode, served in (("cuda", "merged", DEQUANTISED_MERGE), ("cpu", "multi_lora", UNQUANTISED_BASE)):
        config = _embedded(device=device)
        assert config["evaluation"]["mode"] == "multi_lora"
        cells = grid.training_cells(config)
        quantised = [c for c in cells if c.bits in (4, 8)]
        assert quantised and all(grid.serving_mode(config, c) == quantised_mode for c in quantised)
        assert all(served_as(c, grid.serving_mode(config, c)) == served for c in quantised)
        assert all(grid.serving_mode(config, c) == "multi_lora" for c in cells if c.bits == 16)
        grouped = {c for group in grid.generation_groups(config).values() for c in group}
        # each model's base cell rides its lowest-rank group (both models have 16-bit cells on CUDA too)
        assert grouped == {c for c in cells if c.bits == 16 or device == "cpu"} | set(grid.base_cells(config))
        for base in grid.base_cells(config):
            assert grid.serving_mode(config, base) == "multi_lora"
            ranks = {grid.group_rank(config, c) for c in cells if c.model == base.model and c in grouped}
            assert grid.group_rank(config, base) == min(ranks)
        constraint = grid.per_cell_generation_constraint(config)
        assert not re.fullmatch(constraint, "tiny-llama/none/base")
        assert bool(re.fullmatch(constraint, quantised[0].id)) == (device == "cuda")
        assert not re.fullmatch(constraint, "tiny-llama/alpaca/r8-b16")
    merged = _embedded()
    merged["evaluation"]["mode"] = "merged"
    assert all(grid.serving_mode(merged, c) == "merged" for c in grid.training_cells(merged))


def test_multi_lora_dry_run_on_cuda_merges_and_serves_each_quantised_cell(tmp_path):
    """The embedded grid (18 cells, 8 at 4/8 bits, 2 models x 2 ranks) planned for CUDA: quantised
    cells get a merge and a per-cell generation and judging job, 16-bit cells stay in rank groups.
    On CPU every trained cell is served by LoRA from one group per model. Base cells ride their
    model's lowest-rank group (no per-cell job of their own)."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    (tmp_path / "cuda.yaml").write_text(re.sub(r"(?m)^device: cpu.*$", "device: cuda", text), encoding="utf-8")
    plans = {}
    for name, configfile in (("cuda", tmp_path / "cuda.yaml"), ("cpu", ROOT / "config.yaml")):
        result = subprocess.run(
            # --forceall: the whole plan, whatever a run in this checkout already produced
            [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "--configfile", str(configfile)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        plans[name] = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M)}
    tasks = len(grid.tasks(_embedded()))
    cuda, cpu = plans["cuda"], plans["cpu"]
    # only cells served merged are merged: the 8 quantised ones on CUDA, none on CPU; the served-model
    # check merges a LoRA-served cell's adapter in memory (maple.generate.check), no merge job
    assert cuda["merge_adapter"] == 8 and "merge_adapter" not in cpu
    # the served-model check: a job per cell served merged, one per generation group for the rest
    assert cuda["check_served_model"] == 8 and cuda["check_group_served_models"] == 4
    assert "check_served_model" not in cpu and cpu["check_group_served_models"] == 2
    assert cuda["generate_outputs"] == 8 * tasks and "generate_outputs" not in cpu
    # CUDA: each task's requests built once per model on a CPU job; CPU: each generation job builds its own
    assert cuda["build_requests"] == 2 * tasks and "build_requests" not in cpu
    # CUDA: a group per (model, rank); CPU: one per model (an engine load costs more than rank padding)
    assert cuda["generate_group_outputs"] == 4 * tasks and cpu["generate_group_outputs"] == 2 * tasks
    assert cuda["judge_alpaca_eval"] == 8 and cuda["judge_group_alpaca_eval"] == 4
    assert "judge_alpaca_eval" not in cpu and cpu["judge_group_alpaca_eval"] == 2
    assert cuda["score_outputs"] == cpu["score_outputs"] == 20 * tasks


def test_paper_grid_in_multi_lora_mode_on_cuda_plans_150_engine_loads(tmp_path):
    """The paper config (device cuda) switched to multi_lora: 10 rank groups x 7 tasks serve the 40
    16-bit cells by LoRA and the 2 base models (each in its model's lowest-rank group, without
    adapter); the 80 4/8-bit cells get a per-cell job for their task group (all 7 tasks)."""
    text = (ROOT / "config" / "paper.yaml").read_text(encoding="utf-8")
    edited, n = re.subn(r"(?m)^  mode: merged\b", "  mode: multi_lora", text)
    assert n == 1
    (tmp_path / "paper_multi_lora.yaml").write_text(edited, encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "--configfile",
         str(tmp_path / "paper_multi_lora.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M)}
    assert counts["generate_group_outputs"] == 10 * 7 and counts["generate_task_group_outputs"] == 80
    assert "generate_outputs" not in counts
    # the 80 quantised cells merged to be served; the 40 LoRA-served ones are merged in memory by their check
    assert counts["merge_adapter"] == 80
    assert counts["check_served_model"] == 80 and counts["check_group_served_models"] == 10
    assert counts["score_outputs"] == 122 * 7
    assert counts["judge_alpaca_eval"] == 80 and counts["judge_group_alpaca_eval"] == 10


def test_job_layouts_round_trip_through_one_codec():
    cell, base = grid.Cell("m", "alpaca", 8, 4), grid.Cell("m")
    for layout, fields, want in [
        (grid.CELL_JOB, {"cell": cell.id}, (cell, None, None)),
        (grid.CELL_TASK_JOB, {"cell": base.id, "task": "alpaca_eval"}, (base, None, "alpaca_eval")),
        (grid.GROUP_JOB, {"model": "m", "rank": 8}, (None, "m/lora-r8", None)),
        (grid.GROUP_TASK_JOB, {"model": "m", "rank": 8, "task": "xnli"}, (None, "m/lora-r8", "xnli")),
    ]:
        key = grid.parse_job(layout.format(**fields))
        assert (key.cell, key.group, key.task) == want and key.model == "m"
    assert grid.parse_job("all") is None and grid.parse_job("m/alpaca/r8-b5/xnli") is None
    assert grid.cell_of("m", "alpaca", 8.0, 4.0) == cell.id and grid.cell_of("m", "none", float("nan"), None) == base.id
    for bad in ("m/alpaca/r8-b4/xnli", "m/lora-r8"):
        try:
            grid.parse_cell(bad)
        except ValueError as err:
            assert bad in str(err)
        else:
            raise AssertionError(f"{bad} parsed as a cell")


def _benchmarks(configfile) -> dict:
    """rule -> the wildcard parts of the benchmark files its planned jobs write (a dry run)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "--configfile", str(configfile)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out: dict = {}
    for rule, wildcards in re.findall(r"^    benchmark: benchmarks/(\w+)/(.+)\.tsv$", result.stdout, re.M):
        out.setdefault(rule, []).append(wildcards)
    return out


def test_every_planned_job_of_a_cell_or_group_is_charged_to_it():
    """The cost report reads jobs back from their benchmark paths with the codec the rules write them
    with: on the embedded default (multi_lora) and the paper grid (merged), every generation, judging,
    scoring, training and merging job maps to a cell of the grid or a rank group, and its task."""
    from maple.report.cost import _cell_fields

    seen = set()
    for configfile in (ROOT / "config.yaml", ROOT / "config" / "paper.yaml"):
        config = maple_config.load(configfile, ROOT)
        cells = {c.id for c in grid.eval_cells(config)}
        groups = set(grid.generation_groups(config))
        for rule, jobs in _benchmarks(configfile).items():
            per_task = rule in ("generate_outputs", "generate_task_group_outputs", "generate_group_outputs",
                                "score_outputs")
            for wildcards in jobs:
                fields = _cell_fields(wildcards)
                if rule in ("download_model", "download_eval", "download_dataset", "tokenise_dataset",
                            "build_tiny_model", "build_requests") or wildcards == "all" or rule == "plot_figure":
                    assert fields["cell"] is None, (rule, wildcards)
                    continue
                seen.add(rule)
                rank_group = rule in ("generate_group_outputs", "judge_group_alpaca_eval", "check_group_served_models")
                assert fields["cell"] in (groups if rank_group else cells), (rule, wildcards)
                assert (fields["task"] is not None) == per_task, (rule, wildcards)
    assert seen == {"train_adapter", "merge_adapter", "generate_task_group_outputs", "generate_group_outputs", "judge_alpaca_eval",
                    "judge_group_alpaca_eval", "score_outputs", "export_lm_eval", "check_served_model",
                    "check_group_served_models"}


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_cell_of_a_generation_group_has_its_own_files(device):
    """A multi_lora group writes one directory per cell: on CPU one group serves every rank of a model,
    so cells that differ only in rank (multialpaca r8-b16, r16-b16) must not share a file (they did:
    the r16 adapter's outputs were scored as r8's, caught by the served-model check). The base cell
    is a member of its model's lowest-rank group, in a directory of its own (none/base)."""
    from maple.paths import group_member_file

    for configfile in (ROOT / "config.yaml", ROOT / "config" / "paper.yaml"):
        config = maple_config.load(configfile, ROOT)
        config["evaluation"]["mode"], config["device"] = "multi_lora", device
        groups = grid.generation_groups(config)
        assert {c for cells in groups.values() for c in cells if c.is_base} == set(grid.base_cells(config))
        for group, cells in groups.items():
            files = [group_member_file(group, c, "xnli") for c in cells]
            assert len(set(files)) == len(cells), (configfile.name, group, files)


def test_task_groups_cut_the_per_cell_engine_loads_the_plan_counts(tmp_path):
    """evaluation.task_groups on the paper grid (merged): a cell's grouped tasks take one job and one
    engine load; snakemake -n plans those jobs and maple.plan counts those loads: 61 Mistral cells x 1 as
    config/paper.yaml groups all seven, x 4 with one group of four, x 7 with none."""
    from maple.plan.grid_cost import engine_loads, serving_units

    text = (ROOT / "config" / "paper.yaml").read_text(encoding="utf-8")
    edited, n = re.subn(r"(?m)^  task_groups:.*$", "  task_groups: [[xnli, xcopa, xquad, belebele]]", text)
    assert n == 1
    (tmp_path / "grouped.yaml").write_text(edited, encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "--configfile", str(tmp_path / "grouped.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M)}
    assert counts["generate_task_group_outputs"] == 122 and counts["generate_outputs"] == 122 * 3
    assert counts["score_outputs"] == 122 * 7
    paper = maple_config.validate(yaml.safe_load(text), ROOT)
    grouped = maple_config.validate(yaml.safe_load(edited), ROOT)
    ungrouped = maple_config.validate(yaml.safe_load(text), ROOT)
    ungrouped["evaluation"]["task_groups"] = []
    assert [engine_loads(c, "mistral-7b")["merged"] for c in (paper, grouped, ungrouped)] == [61, 61 * 4, 61 * 7]
    assert serving_units(grouped, "mistral-7b")["merged"] == (61, 0)  # one judge job per cell either way
