"""End to end: the workflow on a small slice of the embedded default, in a temporary directory.

Runs the real DAG (tiny models built offline, training at 4/8/16 bits, vLLM generation, scoring,
report), then checks that a rerun does nothing and that editing one cell reruns only that cell.
"""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

pytestmark = pytest.mark.slow


def e2e_config() -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["grid"] = [
        {"models": ["tiny-llama"], "datasets": ["multialpaca"], "ranks": [8], "bits": [4, 16]},
        {"models": ["tiny-mistral"], "datasets": ["alpaca"], "ranks": [8], "bits": [8]},
    ]
    config["datasets"] = {k: v for k, v in config["datasets"].items() if k in ("alpaca", "multialpaca")}
    config["training"]["max_steps"] = 4
    # make run covers multi_lora; this covers the merged path (merge -> serve merged checkpoints)
    config["evaluation"]["mode"] = "merged"
    config["merge"]["keep"] = True
    for model in config["models"].values():
        model["build"]["pretrain_steps"] = 20
    config["evaluation"]["max_examples"] = 2
    for task in config["evaluation"]["tasks"].values():
        task["languages"] = task["languages"][:1]
    return config


def run_snakemake(workdir: Path, config_file: Path, *args, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "VLLM_CACHE_ROOT": str(ROOT / ".cache" / "vllm")}
    result = subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile", str(config_file),
         "--cores", "2", *args],
        capture_output=True, text=True, timeout=1500, env=env,
    )
    if check:
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-5000:])
    return result


def planned_jobs(output: str) -> dict:
    block = output.split("Job stats:")[-1] if "Job stats:" in output else ""
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", block, re.M) if k != "total"}


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    (workdir / "resources").mkdir()
    for name in ("data", "eval"):
        os.symlink(ROOT / "resources" / name, workdir / "resources" / name)
    config_file = workdir / "e2e.yaml"
    config_file.write_text(yaml.safe_dump(e2e_config(), allow_unicode=True))
    result = run_snakemake(workdir, config_file)
    return workdir, config_file, result


def test_every_stage_produced_its_outputs(workflow_run):
    workdir, _, _ = workflow_run
    cells = ["tiny-llama/multialpaca/r8-b4", "tiny-llama/multialpaca/r8-b16", "tiny-mistral/alpaca/r8-b8"]
    for cell in cells:
        adapter = workdir / "results" / "adapters" / cell
        assert (adapter / "adapter_model.safetensors").exists()
        assert json.loads((adapter / "train.json").read_text())["steps"] == 4
        assert (workdir / "results" / "merged" / cell / "model.safetensors").exists()
        # is the served model the trained one: recorded per cell (a failure is flagged, not fatal)
        check = json.loads((workdir / "results" / "served_checks" / f"{cell}.json").read_text())
        assert check["cell"] == cell and isinstance(check["passed"], bool) and check["sample"] > 0
    for cell in cells + ["tiny-llama/none/base", "tiny-mistral/none/base"]:
        for task in ("xnli", "xcopa", "xquad", "mlqa", "belebele", "xlsum", "alpaca_eval"):
            rows = json.loads((workdir / "results" / "scores" / cell / f"{task}.json").read_text())
            assert {r["protocol"] for r in rows} == {"megaverse", "reference"}, (cell, task)
    assert list((workdir / "logs" / "train_adapter").rglob("*.log"))
    assert list((workdir / "benchmarks" / "train_adapter").rglob("*.tsv"))
    assert (workdir / "results" / "report.html").stat().st_size > 10_000
    assert "Served-model check" in (workdir / "results" / "report.html").read_text(encoding="utf-8")
    from maple.report.figure_names import STEMS

    assert len(list((workdir / "figures").glob("*.png"))) == 2 * len(STEMS)  # per protocol


def test_second_run_has_nothing_to_do(workflow_run):
    workdir, config_file, _ = workflow_run
    result = run_snakemake(workdir, config_file, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_editing_one_cell_reruns_only_that_cell(workflow_run, tmp_path):
    workdir, config_file, _ = workflow_run
    config = yaml.safe_load(config_file.read_text())
    edited = copy.deepcopy(config)
    edited["training"]["per_cell"] = {"tiny-llama/multialpaca/r8-b16": {"learning_rate": 1.0e-3}}
    edited_file = tmp_path / "edited.yaml"
    edited_file.write_text(yaml.safe_dump(edited, allow_unicode=True))
    result = run_snakemake(workdir, edited_file, "-n")
    jobs = planned_jobs(result.stdout)
    assert jobs.get("train_adapter") == 1 and jobs.get("merge_adapter") == 1, jobs
    # one generation and one scoring job per task of the cell
    assert jobs.get("generate_outputs") == 7 and jobs.get("score_outputs") == 7, jobs
    assert "download_dataset" not in jobs and "tokenise_dataset" not in jobs
    trained = re.findall(r"output: results/adapters/(\S+)", result.stdout)
    assert trained == ["tiny-llama/multialpaca/r8-b16"], trained
