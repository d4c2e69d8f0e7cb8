"""What `snakemake -n` plans after one edit to a finished study (the embedded default, both modes).

The finished state is built cheaply: every planned output is created empty, then `--touch -F`
records Snakemake's metadata (params, input, code) as a real run would. No job runs.
"""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maple import job_params
from maple.report.figure_names import STEMS

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
EVAL_CELLS = 20  # 18 trained cells + 2 base models
# what follows any rescoring: every cell's lm-eval export, the aggregates, tables, each figure per protocol
REPORT_JOBS = {"export_lm_eval": EVAL_CELLS, "aggregate_scores": 1, "bootstrap_scores": 1, "make_tables": 1,
               "plot_figure": 2 * len(STEMS), "render_report": 1}
GROUPS = 2  # multi_lora on CPU: one group per model (maple.grid.group_rank), which also serves its base model


def _snakemake(workdir: Path, config: dict, *args) -> str:
    config_file = workdir / f"config-{abs(hash(repr(config)))}.yaml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile", str(config_file),
         "--cores", "1", *args],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout + result.stderr


def planned(workdir: Path, config: dict) -> tuple[dict, list[str]]:
    out = _snakemake(workdir, config, "-n")
    block = out.split("Job stats:")[-1] if "Job stats:" in out else ""
    jobs = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", block, re.M) if k not in ("total", "all")}
    outputs = [o for line in re.findall(r"^\s+output: (.+)$", out, re.M) for o in line.split(", ")]
    return jobs, outputs


def default_config(mode: str) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["evaluation"]["mode"] = mode
    # merged mode regenerates from kept checkpoints: a temp() one that is gone must be re-merged, and
    # Snakemake then reruns every job that reads it (all tasks of the cell; see README)
    config["merge"]["keep"] = mode == "merged"
    return config


def finished_study(workdir: Path, config: dict) -> None:
    """Every output of the DAG present and recorded as if `snakemake` had made it."""
    (workdir / "resources").mkdir()
    for name in ("data", "eval"):
        os.symlink(ROOT / "resources" / name, workdir / "resources" / name)
    _, outputs = planned(workdir, config)
    for out in outputs:
        path = workdir / out
        if path.suffix:  # every file output has an extension; directory outputs do not
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    _snakemake(workdir, config, "--touch", "-F")


@pytest.fixture(scope="module", params=["multi_lora", "merged"])
def study(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"study-{request.param}")
    config = default_config(request.param)
    finished_study(workdir, config)
    return workdir, config


def generation_jobs(jobs: dict) -> int:
    return jobs.get("generate_outputs", 0) + jobs.get("generate_group_outputs", 0)


def generation_counts(config: dict) -> dict:
    """Jobs that generate one task for every evaluated cell (in multi_lora the base models ride their
    model's group: no job of their own)."""
    if config["evaluation"]["mode"] == "multi_lora":
        return {"generate_group_outputs": GROUPS}
    return {"generate_outputs": EVAL_CELLS}


def expected_generation(config: dict) -> int:
    return sum(generation_counts(config).values())


def test_finished_study_plans_nothing(study):
    workdir, config = study
    assert planned(workdir, config)[0] == {}


def test_adding_a_language_plans_that_task_only(study):
    workdir, config = study
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xnli"]["languages"].append("zh")
    jobs, outputs = planned(workdir, edited)
    assert jobs == {**generation_counts(config), "score_outputs": EVAL_CELLS, **REPORT_JOBS}, jobs
    results = [o for o in outputs if o.startswith(("results/outputs", "results/generations", "results/scores/"))]
    assert results and all(re.search(r"/xnli(\.|/|$)", o) for o in results), results


def test_switching_the_judge_plans_no_generation(study):
    workdir, config = study
    edited = copy.deepcopy(config)
    edited["evaluation"]["judge"]["model"] = "tiny-mistral"
    jobs, outputs = planned(workdir, edited)
    assert generation_jobs(jobs) == 0, jobs
    judged = jobs.get("judge_alpaca_eval", 0) + jobs.get("judge_group_alpaca_eval", 0)
    assert judged == expected_generation(config), jobs
    assert jobs["score_outputs"] == EVAL_CELLS
    assert sum(jobs.values()) == judged + EVAL_CELLS + sum(REPORT_JOBS.values()), jobs  # docs/reruns.md
    scores = [o for o in outputs if o.startswith("results/scores/")]
    assert all("alpaca_eval" in o for o in scores), scores


def test_a_scoring_option_plans_scoring_only(study):
    workdir, config = study
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xlsum"]["scoring"] = {"stem": True}
    jobs, outputs = planned(workdir, edited)
    assert jobs == {"score_outputs": EVAL_CELLS, **REPORT_JOBS}, jobs
    assert all("xlsum" in o for o in outputs if o.startswith("results/scores/"))


def test_one_tasks_generation_setting_plans_that_task_only(study):
    workdir, config = study
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xlsum"]["max_new_tokens"] = 32
    jobs, outputs = planned(workdir, edited)
    assert generation_jobs(jobs) == expected_generation(config), jobs
    assert "judge_alpaca_eval" not in jobs and "judge_group_alpaca_eval" not in jobs and "train_adapter" not in jobs
    assert jobs == {**generation_counts(config), "score_outputs": EVAL_CELLS, **REPORT_JOBS}, jobs  # docs/reruns.md
    assert all("xlsum" in o for o in outputs if o.startswith(("results/outputs", "results/generations", "results/scores/")))


def _reversed(value):
    """Every mapping's keys in reverse order; lists (whose order means something) kept."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


def test_a_reordered_config_plans_nothing(study):
    """Every mapping's keys reversed, the tasks' too (the report orders tasks by the registry)."""
    workdir, config = study
    reordered = _reversed(config)
    assert list(reordered) != list(config)
    assert list(reordered["evaluation"]["tasks"]) != list(config["evaluation"]["tasks"])
    assert planned(workdir, reordered)[0] == {}


def test_reordering_lists_that_stand_for_sets_plans_nothing(study):
    """A task's languages and the protocols: the jobs see them sorted, whatever the config's order."""
    workdir, config = study
    edited = copy.deepcopy(config)
    for task_cfg in edited["evaluation"]["tasks"].values():
        task_cfg["languages"].reverse()
    edited["evaluation"]["protocols"].reverse()
    assert edited != config
    assert planned(workdir, edited)[0] == {}


PER_CELL = "tiny-llama/multialpaca/r8-b16"
TASKS = 7
GROUP = 9  # multi_lora on CPU: one group per model (maple.grid.group_rank) serves all nine tiny-llama cells
GROUP_BASE = 1  # ... and the tiny-llama base model, by requests without adapter


def per_cell_edit_jobs(mode: str) -> dict:
    """What a training edit of one cell reruns (docs/reruns.md). merged: that cell alone. multi_lora:
    its (model, rank) group's generation is one job per task serving every adapter of the group, so
    the group regenerates and each of its cells, the base model included, is rescored (their outputs
    come back unchanged)."""
    rescored = GROUP + GROUP_BASE if mode == "multi_lora" else 1
    report = {**REPORT_JOBS, "export_lm_eval": rescored}
    # the served-model check reads each regenerated finetuned cell's recorded outputs (the base has none):
    # the group's one check job
    if mode == "multi_lora":
        return {"train_adapter": 1, "generate_group_outputs": TASKS, "judge_group_alpaca_eval": 1,
                "score_outputs": rescored * TASKS, "check_group_served_models": 1, **report}
    return {"train_adapter": 1, "merge_adapter": 1, "generate_outputs": TASKS, "judge_alpaca_eval": 1,
            "score_outputs": TASKS, "check_served_model": 1, **report}


def test_a_per_cell_training_edit_plans_what_docs_say(study):
    workdir, config = study
    edited = copy.deepcopy(config)
    edited["training"]["per_cell"] = {PER_CELL: {"learning_rate": 1e-3}}
    jobs, outputs = planned(workdir, edited)
    assert jobs == per_cell_edit_jobs(config["evaluation"]["mode"]), jobs
    trained = [o for o in outputs if o.startswith("results/adapters/")]
    assert len(trained) == 1 and PER_CELL in trained[0], trained


def test_canonical_params_ignore_key_order():
    config = default_config("merged")
    from maple.config import validate

    validate(config, ROOT)
    flipped = validate(_reversed(copy.deepcopy(default_config("merged"))), ROOT)
    for task in config["evaluation"]["tasks"]:
        assert repr(job_params.generation_params(config, task)) == repr(job_params.generation_params(flipped, task))
    assert repr(job_params.judge_params(config)) == repr(job_params.judge_params(flipped))
    # a task's generation params hold that task only, and no judge or scoring key
    xnli = job_params.generation_params(config, "xnli")
    assert list(xnli["evaluation"]["tasks"]) == ["xnli"] and "judge" not in xnli["evaluation"]


def test_training_params_ignore_the_order_of_target_modules():
    from maple import grid

    config = default_config("merged")
    config["training"]["target_modules"] = ["v_proj", "q_proj"]
    cell = grid.training_cells(config)[0]
    flipped = copy.deepcopy(config)
    flipped["training"]["target_modules"] = ["q_proj", "v_proj"]
    assert job_params.training_params(config, cell) == job_params.training_params(flipped, cell)
    assert job_params.training_params(config, cell)["target_modules"] == ["q_proj", "v_proj"]
    config["training"]["per_cell"] = {cell.id: {"learning_rate": 1e-4}}
    assert job_params.training_params(config, cell)["learning_rate"] == 1e-4


def test_code_digest_follows_the_scoring_code(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.py").write_text("A = 1\n")
    before = job_params.code_digest(("metrics",), tmp_path)
    assert job_params.code_digest(("metrics",), tmp_path) == before
    (tmp_path / "metrics" / "m.py").write_text("A = 2\n")
    assert job_params.code_digest(("metrics",), tmp_path) != before


def test_on_cuda_a_tasks_edit_rebuilds_its_requests_once_per_model_and_nothing_else(tmp_path):
    """device cuda builds each task's requests once per model (rule build_requests) for all its cells:
    adding a language rebuilds that task's two request files (and their ids) and regenerates that task only; the
    other tasks' files and jobs stay."""
    config = default_config("merged")
    config["device"] = "cuda"
    finished_study(tmp_path, config)
    assert planned(tmp_path, config)[0] == {}
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xnli"]["languages"].append("zh")
    jobs, outputs = planned(tmp_path, edited)
    assert jobs["build_requests"] == 2, jobs
    assert sorted(o for o in outputs if o.startswith("results/requests/")) == [
        "results/requests/tiny-llama/xnli.ids.npz", "results/requests/tiny-llama/xnli.jsonl",
        "results/requests/tiny-mistral/xnli.ids.npz", "results/requests/tiny-mistral/xnli.jsonl"]
    results = [o for o in outputs if o.startswith(("results/outputs", "results/generations", "results/scores/"))]
    assert results and all(re.search(r"/xnli(\.|/|$)", o) for o in results), results


def test_a_task_group_is_one_job_per_cell_and_an_edit_to_one_of_its_tasks_reruns_the_group(tmp_path):
    """evaluation.task_groups (merged mode): a group's tasks are generated by one job per cell, and an
    edit to one of them regenerates that group and rescores its tasks; a task outside it stays its own
    job; declaring the group re-plans the grouped tasks only (docs/reruns.md)."""
    config = default_config("merged")
    grouped = ["xcopa", "xquad", "belebele"]
    config["evaluation"]["task_groups"] = [grouped]
    finished_study(tmp_path, config)
    assert planned(tmp_path, config)[0] == {}
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xquad"]["languages"].append("de")
    jobs, outputs = planned(tmp_path, edited)
    assert jobs == {"generate_task_group_outputs": EVAL_CELLS, "score_outputs": len(grouped) * EVAL_CELLS,
                    **REPORT_JOBS}, jobs
    assert all(o.endswith("/xcopa+xquad+belebele") for o in outputs if o.startswith("results/generations/"))
    scores = {o.split("/")[-1].split(".")[0] for o in outputs if o.startswith("results/scores/")}
    assert scores == set(grouped), scores
    edited = copy.deepcopy(config)
    edited["evaluation"]["tasks"]["xnli"]["languages"].append("zh")
    jobs, _ = planned(tmp_path, edited)
    assert jobs == {"generate_outputs": EVAL_CELLS, "score_outputs": EVAL_CELLS, **REPORT_JOBS}, jobs
