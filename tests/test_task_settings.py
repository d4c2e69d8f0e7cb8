"""A task's effective settings (splits, shots, max_new_tokens) are resolved once
(maple.tasks.spec.effective_settings): the generation job's params, request building and the planner
agree, and a spec default edit changes the generation params (so Snakemake reruns generation)."""

import dataclasses
import json
from pathlib import Path

import pytest

from maple import config as maple_config
from maple import job_params
from maple.tasks import TASKS, TaskDataError, build_requests, get_task
from maple.tasks.spec import effective_settings

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = maple_config.load(ROOT / "config.yaml", ROOT)
BELEBELE = ROOT / "resources" / "eval" / "belebele" / "eng_Latn" / "test.jsonl"


def test_overrides_win_over_the_language_and_the_spec():
    spec = get_task("xcopa")
    plain = effective_settings(spec, "sw", "megaverse", {})
    assert (plain.eval_split, plain.shot_split) == ("validation", "validation")
    assert plain.max_new_tokens == spec.max_new_tokens and plain.shots == spec.protocol("megaverse").shots
    over = effective_settings(spec, "sw", "megaverse", {"split": "test", "shot_split": "train", "shots": 2,
                                                        "max_new_tokens": 7})
    assert (over.eval_split, over.shot_split, over.shots, over.max_new_tokens) == ("test", "train", 2, 7)


def test_spec_default_edit_changes_generation_params_not_scoring(monkeypatch):
    task_cfg = EMBEDDED["evaluation"]["tasks"]["belebele"]
    assert "max_new_tokens" not in task_cfg  # the embedded default takes Belebele's from its spec
    before = job_params.generation_params(EMBEDDED, "belebele")
    scoring = job_params.scoring_params(EMBEDDED, "belebele")
    edited = dataclasses.replace(TASKS["belebele"], max_new_tokens=TASKS["belebele"].max_new_tokens + 5)
    monkeypatch.setitem(TASKS, "belebele", edited)
    after = job_params.generation_params(EMBEDDED, "belebele")
    assert before != after
    assert {after["effective"][p][lang]["max_new_tokens"] for p in after["effective"] for lang in task_cfg["languages"]} \
        == {edited.max_new_tokens}
    assert job_params.scoring_params(EMBEDDED, "belebele") == scoring


def test_requests_and_plan_use_the_same_resolution(monkeypatch):
    from maple.plan import core

    edited = dataclasses.replace(TASKS["belebele"], max_new_tokens=31)
    monkeypatch.setitem(TASKS, "belebele", edited)
    task_cfg = {**EMBEDDED["evaluation"]["tasks"]["belebele"], "source": str(ROOT / "resources" / "eval" / "belebele")}
    built = build_requests("belebele", "eng_Latn", "reference", task_cfg, seed=0, max_examples=2)
    rows = [json.loads(line) for line in BELEBELE.read_text(encoding="utf-8").splitlines()[:2]]
    planned, info = core.plan_requests("belebele", "eng_Latn", "reference", rows, None, task_cfg, None, 0, None)
    assert {r["max_new_tokens"] for r in built} == {r["max_new_tokens"] for r in planned} == {31}
    assert info["max_new_tokens"] == 31
    with pytest.raises(TaskDataError, match="has no split 'no_such_split'"):  # the override is read
        build_requests("belebele", "eng_Latn", "reference", {**task_cfg, "split": "no_such_split"}, seed=0)
