"""Failure isolation and incremental reruns, on a real (one-node) SLURM cluster via profiles/slurm.

Run by `make test-slurm`, which brings the cluster up (slurm/cluster.sh) and tears it down; skipped
everywhere else. Each scenario has its own working directory, seeded with the tiny model and
tokenised data built once through SLURM, and runs the workflow exactly as a cluster user would
(`snakemake --profile profiles/slurm ...`), plus the test cluster's status settings.

MAPLE_SLURM_SCOPE=train limits the runs to training (`--until train_adapter`); the default, `all`,
runs the whole DAG (report stage included).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from slurm_harness import (
    FAIL_CELL,
    OTHER_CELLS,
    Run,
    cell_of_job,
    cluster_problem,
    complete_checkpoints,
    dry_run,
    incomplete_markers,
    job_details,
    job_state,
    jobs_of_run,
    kill_job_processes,
    load_adapter,
    make_workdir,
    mem_mb,
    planned_job_list,
    planned_jobs,
    run_snakemake,
    scancel,
    small_config,
    wait_until,
    with_cell,
)

pytestmark = [pytest.mark.slurm, pytest.mark.skipif(cluster_problem() is not None, reason=str(cluster_problem()))]

SCOPE = os.environ.get("MAPLE_SLURM_SCOPE", "all")
UNTIL = [] if SCOPE == "all" else ["--until", "train_adapter"]
DATA_RULES = {"build_tiny_model", "download_dataset", "tokenise_dataset"}
BASE_CELLS = ["tiny-llama/none/base"]
# A training run long enough to be killed after a checkpoint: ~0.15 s a step on this CPU.
LONG = {"max_steps": 240, "save_steps": 30}


def expected_outputs(workdir: Path, cells: list[str], config: dict) -> list[Path]:
    """What a cell leaves behind (merged checkpoints are temp(): deleted once generated from)."""
    out = []
    for cell in cells:
        if not cell.endswith("/none/base"):
            out.append(workdir / "results" / "adapters" / cell / "adapter_model.safetensors")
        if SCOPE == "all":
            out += [workdir / "results" / "scores" / cell / f"{task}.json" for task in config["evaluation"]["tasks"]]
    return out


def adapter(workdir: Path, cell: str) -> Path:
    return workdir / "results" / "adapters" / cell


@pytest.fixture(scope="session")
def seed(tmp_path_factory) -> Path:
    """Tiny model, raw and tokenised data, built through SLURM once and copied into each scenario."""
    workdir = make_workdir(tmp_path_factory.mktemp("seed"))
    run = run_snakemake(workdir, small_config(), "--until", "tokenise_dataset", name="seed", timeout=600)
    assert run.returncode == 0, run.tail()
    return workdir


# ---- a. one failing cell: the others finish, the run fails and names it ------------------------


@pytest.fixture(scope="module")
def failed_run(seed, tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("isolation"), seed=seed)
    config = with_cell(small_config(), FAIL_CELL, fail=True)
    run = run_snakemake(workdir, config, *UNTIL, name="failing", timeout=1200)
    return workdir, config, run


def test_a_failed_cell_does_not_stop_the_others(failed_run):
    workdir, config, run = failed_run
    assert run.returncode != 0, "a failed job must make the run exit non-zero"
    missing = [p for p in expected_outputs(workdir, OTHER_CELLS + BASE_CELLS, config) if not p.exists()]
    assert not missing, (missing, run.tail())
    assert not adapter(workdir, FAIL_CELL).exists()
    # named in the output: the error block's wildcards and the rule log's one-line reason
    assert "Error in rule train_adapter" in run.output
    assert "wildcards: model=tiny-llama, dataset=alpaca, rank=16, bits=16" in run.output
    assert f"InjectedFailure: training.fail is set for cell {FAIL_CELL}" in run.output


def test_a_profile_maps_resources_to_sbatch(failed_run):
    """Rules land in the partition, memory and GPU count the profile and config ask for."""
    _, config, run = failed_run
    jobs = jobs_of_run(run.output)
    assert jobs, "no SLURM jobs found for this run"
    by_rule: dict[str, list[dict]] = {}
    for job in jobs:
        rule = job["comment"].removeprefix("rule_").split("_wildcards_")[0]
        by_rule.setdefault(rule, []).append(job)
    trains = sorted(by_rule["train_adapter"], key=lambda j: int(j["id"]))
    # the failing cell is tried 1 + `retries` (2) times, with more memory each time
    assert len(trains) == len(OTHER_CELLS) + 3, trains
    base_mem = config["resources"]["train_adapter"]["mem_mb"]
    failing = [j for j in trains if j["comment"].endswith("tiny-llama_alpaca_16_16")]
    assert [mem_mb(j["mem"]) for j in failing] == [int(base_mem * 1.5**k) for k in range(3)], failing
    assert all(j["state"] == "FAILED" for j in failing), failing
    for job in trains:
        details = job_details(job["id"])
        assert details["Partition"] == "gpu", details
        assert details.get("TresPerJob") == "gres:gpu:1", details
    for job in by_rule.get("merge_adapter", []):
        assert job_details(job["id"])["Partition"] == "gpu"


def test_a_gpu_jobs_run_offline(failed_run):
    """Jobs that ask for a GPU never reach for the hub: they read the download rules' snapshots."""
    workdir, _, _ = failed_run
    logs = sorted((workdir / "logs" / "train_adapter").rglob("*.log"))
    assert logs, "no train_adapter logs"
    for log in logs:
        assert "HF_HUB_OFFLINE=1" in log.read_text(encoding="utf-8", errors="replace"), log


# ---- b. rerunning: only the failed cell and what depends on it ----------------------------------


@pytest.fixture(scope="module")
def rerun(failed_run):
    workdir, config, _ = failed_run
    # With the switch still set, the plan is the same: only the failed cell's jobs (they would fail
    # again). Removing the switch is the fix; it changes only that cell's params.
    planned_with_switch = dry_run(workdir, config, *UNTIL, name="plan-with-switch")
    fixed = small_config()
    planned = dry_run(workdir, fixed, *UNTIL, name="plan-fixed")
    run = run_snakemake(workdir, fixed, *UNTIL, name="rerun", timeout=900)
    return workdir, fixed, run, planned_with_switch, planned


def assert_only_failed_cell(jobs: list[tuple[str, dict]]):
    """Every job is the failed cell's, or an aggregate one (report stage) that reads every cell."""
    for rule, wildcards in jobs:
        assert cell_of_job(rule, wildcards) in (None, FAIL_CELL), (rule, wildcards)


def expected_per_cell(config: dict, planned: dict) -> dict:
    """One cell's jobs: one per stage, generation and scoring one per task (rules/generate.smk);
    the aggregate report jobs as planned (they read every cell)."""
    if SCOPE != "all":
        return {"train_adapter": 1}
    tasks = len(config["evaluation"]["tasks"])
    own = {"train_adapter": 1, "merge_adapter": 1, "generate_outputs": tasks, "score_outputs": tasks,
           "export_lm_eval": 1}
    if "alpaca_eval" in config["evaluation"]["tasks"]:
        own["judge_alpaca_eval"] = 1
    return {**{r: n for r, n in planned.items() if r not in own and r not in DATA_RULES}, **own}


def test_b_rerun_redoes_only_the_failed_cell(rerun):
    workdir, config, run, planned_with_switch, planned = rerun
    assert planned_with_switch == planned, (planned_with_switch, planned)
    assert planned == expected_per_cell(config, planned), planned
    assert run.returncode == 0, run.tail()
    assert_only_failed_cell(planned_job_list(run.output))
    # what SLURM actually ran in the rerun: only the failed cell's jobs
    submitted = [j["comment"] for j in jobs_of_run(run.output)]
    own = ("tiny-llama_alpaca_16_16", "tiny-llama_alpaca_r16-b16")
    # every job is the failed cell's, or an aggregate one without wildcards (report stage)
    # (generation and scoring jobs are per task: their comments end in the task after the cell)
    assert submitted and all(any(o in c for o in own) or "_wildcards_" not in c for c in submitted), submitted
    missing = [p for p in expected_outputs(workdir, OTHER_CELLS + BASE_CELLS + [FAIL_CELL], config)
               if not p.exists()]
    assert not missing, missing
    if SCOPE == "all":
        assert not (workdir / "results" / "merged" / FAIL_CELL).exists(), "temp() merged checkpoint kept"
        assert (workdir / "results" / "report.html").exists()
    assert dry_run(workdir, config, *UNTIL, name="plan-after") == {}, "a second rerun would redo something"


# ---- e. editing one cell's hyperparameters reruns that cell alone -------------------------------


def test_e_editing_one_cell_reruns_only_that_cell(rerun):
    workdir, config, _, _, _ = rerun
    edited_cell = OTHER_CELLS[0]
    edited = with_cell(config, edited_cell, learning_rate=1.0e-3)
    run = run_snakemake(workdir, edited, *UNTIL, "-n", name="plan-edited", timeout=300)
    assert run.returncode == 0, run.tail()
    planned = planned_jobs(run.output)
    assert planned.get("train_adapter") == 1, planned
    assert not DATA_RULES & planned.keys(), planned
    if SCOPE == "all":
        cell_rules = ("merge_adapter", "generate_outputs", "score_outputs", "export_lm_eval")
        assert {r: planned.get(r) for r in cell_rules} == {r: expected_per_cell(config, planned)[r] for r in cell_rules}
    # every planned job is the edited cell's, or an aggregate one (report stage)
    cells = {cell_of_job(r, w) for r, w in planned_job_list(run.output)}
    assert cells <= {edited_cell, None} and edited_cell in cells, cells


# ---- c. a training job killed mid-run resumes from its checkpoint and ends where it would have ---


def test_c_killed_training_resumes_from_checkpoint(seed, tmp_path_factory):
    cell = OTHER_CELLS[0]
    config = with_cell(small_config(), cell, **LONG)
    target = f"results/adapters/{cell}"
    ref_dir = make_workdir(tmp_path_factory.mktemp("uninterrupted"), seed=seed)
    work = make_workdir(tmp_path_factory.mktemp("killed"), seed=seed)
    reference = Run(ref_dir, config, target, name="uninterrupted")
    killed = Run(work, config, target, name="killed")
    ckpt_dir = work / "results" / "checkpoints" / cell
    first = wait_until(lambda: complete_checkpoints(ckpt_dir), 600, what=f"a checkpoint in {ckpt_dir}")
    running = [j for j in jobs_of_run(killed.output) if j["state"] == "RUNNING" and "train_adapter" in j["comment"]]
    assert len(running) == 1, running
    scancel(running[0]["id"])
    wait_until(lambda: job_state(running[0]["id"]) == "CANCELLED", 60, what="the job to be cancelled")
    out = adapter(work, cell)
    assert not out.exists(), "a killed job left an adapter behind"
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "a temporary sibling was left behind"
    killed.wait(900)
    reference.wait(900)
    assert reference.returncode == 0, reference.tail()
    # the profile's retries resubmit the job; the new job resumes rather than starting over
    assert killed.returncode == 0, killed.tail()
    trains = [j for j in jobs_of_run(killed.output) if "train_adapter" in j["comment"]]
    assert sorted(j["state"] for j in trains) == ["CANCELLED", "COMPLETED"], trains
    record = json.loads((adapter(work, cell) / "train.json").read_text())
    assert record["resumed_from"], "the rerun started from step 0"
    resumed_step = int(record["resumed_from"].rsplit("-", 1)[1])
    assert first[0] <= resumed_step < LONG["max_steps"], (first, record["resumed_from"])
    assert record["steps"] == LONG["max_steps"]
    ref_record = json.loads((adapter(ref_dir, cell) / "train.json").read_text())
    assert ref_record["resumed_from"] is None
    import torch

    ours, theirs = load_adapter(adapter(work, cell)), load_adapter(adapter(ref_dir, cell))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), "resumed adapter differs from uninterrupted"


# ---- f. nothing half-written survives a kill, even of snakemake itself --------------------------


def test_f_no_half_written_output_survives_a_kill(seed, tmp_path_factory):
    """Crash case: snakemake and the job die by SIGKILL (submit host and node lost), no cleanup."""
    cell = OTHER_CELLS[1]
    config = with_cell(small_config(), cell, **LONG)
    target = f"results/adapters/{cell}"
    work = make_workdir(tmp_path_factory.mktemp("crash"), seed=seed)
    run = Run(work, config, target, name="crashing")
    ckpt_dir = work / "results" / "checkpoints" / cell
    wait_until(lambda: complete_checkpoints(ckpt_dir), 600, what=f"a checkpoint in {ckpt_dir}")
    running = [j for j in jobs_of_run(run.output) if j["state"] == "RUNNING"]
    assert len(running) == 1, running
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.proc.wait(30)
    assert kill_job_processes(running[0]["id"])
    wait_until(lambda: job_state(running[0]["id"]) not in ("RUNNING", "COMPLETING"), 120,
               what="the killed job to end")
    out = adapter(work, cell)
    assert not out.exists(), "atomic writes: nothing may appear at the output path before it is complete"
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "a temporary sibling was left behind"
    # snakemake marked the output incomplete when it submitted the job, and no one unmarked it
    assert target in incomplete_markers(work), incomplete_markers(work)
    # worst case: a writer without atomic writes left a half-written file where the output belongs
    out.mkdir(parents=True)
    (out / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    unlock = run_snakemake(work, config, target, "--unlock", name="unlock", timeout=300)
    assert unlock.returncode == 0, unlock.tail()
    plan = run_snakemake(work, config, target, "-n", name="plan-after-crash", timeout=300)
    assert plan.returncode == 0, plan.tail()
    # the output exists and its inputs did not change: only the incomplete marker makes it redone
    # (profile: rerun-incomplete; snakemake lists it as forced)
    assert [r for r, _ in planned_job_list(plan.output)] == ["train_adapter"], plan.tail()
    again = run_snakemake(work, config, target, name="after-crash", timeout=900)
    assert again.returncode == 0, again.tail()
    load_adapter(out)  # a complete, loadable adapter replaced the half-written one
    record = json.loads((out / "train.json").read_text())
    assert record["resumed_from"], "the checkpoints written before the crash were not used"
    assert not incomplete_markers(work), incomplete_markers(work)


# ---- d. a job killed for memory comes back with more --------------------------------------------


def test_d_oom_is_retried_with_more_memory(seed, tmp_path_factory):
    cell = OTHER_CELLS[0]
    config = small_config()
    # attempt 1: 200 MB, far below what loading torch needs, enforced by SLURM (OverMemoryKill);
    # attempt 2: 200 MB * 20
    config["resources"]["train_adapter"].update(mem_mb=200, mem_mb_per_retry=20)
    work = make_workdir(tmp_path_factory.mktemp("oom"), seed=seed)
    run = run_snakemake(work, config, f"results/adapters/{cell}", name="oom", timeout=900)
    assert run.returncode == 0, run.tail()
    trains = sorted((j for j in jobs_of_run(run.output) if "train_adapter" in j["comment"]), key=lambda j: int(j["id"]))
    assert [(mem_mb(j["mem"]), j["state"] == "COMPLETED") for j in trains] == [(200, False), (4000, True)], trains
    assert trains[0]["state"] in ("FAILED", "OUT_OF_MEMORY", "CANCELLED"), trains
    slurm_log = next((work / "logs" / "slurm" / "rule_train_adapter").rglob(f"{trains[0]['id']}.log"))
    assert "exceeded memory limit" in slurm_log.read_text().lower(), slurm_log.read_text()[-2000:]
    assert (adapter(work, cell) / "train.json").exists()
