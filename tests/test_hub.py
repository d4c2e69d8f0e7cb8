"""Hub sources (script repositories read through their parquet export or data files) and the
download rules that let GPU jobs run offline: snapshot_download is pointed at local directories."""

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from maple import hub
from maple.tasks import TaskDataError, build_requests

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "resources" / "eval"
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text(encoding="utf-8"))
EMBEDDED = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
SHA = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(cache: Path, repo_id: str, revision: str, files: dict) -> Path:
    """A huggingface_hub cache entry as snapshot_download leaves it: refs/<revision> -> snapshots/<sha>."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    ref = repo / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(SHA)
    snap = repo / "snapshots" / SHA
    for name, src in files.items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, snap / name)
    return snap


def parquet_export(tmp: Path, fixture: Path, configs: list[str]) -> dict:
    """The fixture's JSONL splits written as the hub's parquet export: {config}/{split}/0000.parquet."""
    files = {}
    for config in configs:
        for split_file in sorted((fixture / config).glob("*.jsonl")):
            out = tmp / "export" / config / split_file.stem / "0000.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pd.read_json(split_file, lines=True).to_parquet(out)
            files[f"{config}/{split_file.stem}/0000.parquet"] = out
    return files


def prompts(reqs):
    return [(r["id"], r["prompt"], r["gold"]) for r in reqs]


def test_script_repositories_are_read_without_their_scripts():
    """datasets >= 4 refuses loading scripts: every such repository in the paper config is read
    through its parquet export or its data files."""
    used = []
    for name, task in PAPER["evaluation"]["tasks"].items():
        if task["source"] in hub.SCRIPT_REPOS:
            used.append(task["source"])
            assert task.get("revision") == "refs/convert/parquet" or task.get("data_files"), name
    for name, ds in PAPER["datasets"].items():
        if ds["source"]["path"] in hub.SCRIPT_REPOS:
            used.append(ds["source"]["path"])
            assert ds["source"].get("revision") == "refs/convert/parquet" or ds["source"].get("data_files"), name
    assert set(used) == set(hub.SCRIPT_REPOS)


def test_alpaca_eval_fixture_has_the_hub_file_names():
    paper, embedded = PAPER["evaluation"]["tasks"]["alpaca_eval"], EMBEDDED["evaluation"]["tasks"]["alpaca_eval"]
    assert paper["data_files"] == embedded["data_files"] == "{config}.json"
    (repo,) = hub.eval_repos(PAPER, "alpaca_eval")
    assert repo["allow_patterns"] == ["alpaca_eval.json", "alpaca_eval_gpt4_baseline.json"]
    for name in repo["allow_patterns"]:  # JSON arrays, as on the hub
        assert isinstance(json.loads((EVAL / "alpaca_eval" / name).read_text(encoding="utf-8")), list)


def test_offline_job_reads_the_snapshot_of_a_parquet_export(tmp_path, monkeypatch):
    from huggingface_hub import constants

    files = parquet_export(tmp_path, EVAL / "mlqa", ["mlqa.de.de", "mlqa.en.en"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cache(tmp_path / "hub", "facebook/mlqa", "refs/convert/parquet", files)
    cfg = {"source": "facebook/mlqa", "revision": "refs/convert/parquet", "languages": ["de"]}
    local = {"source": str(EVAL / "mlqa"), "languages": ["de"]}
    for protocol in ("megaverse", "reference"):
        got = build_requests("mlqa", "de", protocol, cfg, 1234)
        assert got and prompts(got) == prompts(build_requests("mlqa", "de", protocol, local, 1234))
    with pytest.raises(TaskDataError, match=r"no config 'mlqa.hi.hi'.*configs there: mlqa.de.de, mlqa.en.en"):
        build_requests("mlqa", "hi", "megaverse", cfg, 1234)


def test_offline_job_reads_alpaca_eval_files_from_the_snapshot(tmp_path, monkeypatch):
    from huggingface_hub import constants

    names = ["alpaca_eval.json", "alpaca_eval_gpt4_baseline.json"]
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cache(tmp_path / "hub", "tatsu-lab/alpaca_eval", "main", {n: EVAL / "alpaca_eval" / n for n in names})
    cfg = {**PAPER["evaluation"]["tasks"]["alpaca_eval"], "languages": ["en"]}
    local = {**EMBEDDED["evaluation"]["tasks"]["alpaca_eval"], "source": str(EVAL / "alpaca_eval")}
    for protocol in ("megaverse", "reference"):
        got = build_requests("alpaca_eval", "en", protocol, cfg, 1234)
        assert len(got) == 8 and prompts(got) == prompts(build_requests("alpaca_eval", "en", protocol, local, 1234))


def test_download_rule_pins_revision_and_never_logs_the_token(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, repo_type=None, revision=None, allow_patterns=None, cache_dir=None, **kw):
        calls.append({"repo_id": repo_id, "revision": revision, "cache_dir": cache_dir, **kw})
        path = Path(cache_dir) / repo_id.replace("/", "--") / "snapshots" / SHA
        path.mkdir(parents=True)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_do_not_log")
    repos = [hub.model_repos(PAPER)["mistral-7b"], *hub.eval_repos(PAPER, "xlsum")]
    smk = SimpleNamespace(
        params=SimpleNamespace(repos=repos, hf_home=str(tmp_path / "shared-hf")),
        output=[str(tmp_path / "out" / "record.json")], log=[str(tmp_path / "log.txt")],
        rule="download_model", threads=1, config={}, resources=SimpleNamespace(gpu=0),
    )
    runpy.run_path(str(ROOT / "scripts" / "download_hub.py"), init_globals={"snakemake": smk})
    record = json.loads(Path(smk.output[0]).read_text())
    assert [r["commit"] for r in record] == [SHA, SHA]
    assert calls[0]["revision"] == PAPER["models"]["mistral-7b"]["revision"] and len(calls[0]["revision"]) == 40
    assert calls[1]["revision"] == "refs/convert/parquet"
    assert all(c["cache_dir"] == str(tmp_path / "shared-hf" / "hub") and "token" not in c for c in calls)
    assert "thai/**" in record[1]["allow_patterns"] and "amharic/**" in record[1]["allow_patterns"]
    for text in (Path(smk.output[0]).read_text(), Path(smk.log[0]).read_text()):
        assert "hf_secret_do_not_log" not in text


def test_only_download_rules_reach_the_hub(monkeypatch):
    from maple.resources import HUB_RULES, RULES
    from maple.rule_script import hub_environment

    for rule in RULES:
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            monkeypatch.delenv(var, raising=False)
        hub_environment(SimpleNamespace(rule=rule, config={"hf_home": "/shared/hf"}))
        assert os.environ["HF_HOME"] == "/shared/hf"
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" and os.environ.get("HF_DATASETS_OFFLINE") == "1"
        assert offline == (rule not in HUB_RULES), rule
    assert set(HUB_RULES) == {"download_model", "download_eval", "download_dataset"}


def test_embedded_default_needs_no_download_and_paper_lists_them():
    assert hub.model_repos(EMBEDDED) == {} and hub.eval_tasks_on_hub(EMBEDDED) == []
    assert set(hub.model_repos(PAPER)) == {"llama-2-7b", "mistral-7b", "mistral-7b-instruct"}  # the judge too
    assert hub.eval_tasks_on_hub(PAPER) == list(PAPER["evaluation"]["tasks"])
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "download_model" not in out.stdout and "download_eval" not in out.stdout


def test_finetuning_set_from_the_parquet_export_snapshot(tmp_path, monkeypatch):
    """Bactrian-X's main holds a loading script: the paper config reads its parquet export."""
    from huggingface_hub import constants

    from maple.data.sources import load_language

    data = ROOT / "resources" / "data" / "bactrian-x"
    files = parquet_export(tmp_path, data, ["th", "zh"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_cache(tmp_path / "hub", "MBZUAI/Bactrian-X", "refs/convert/parquet", files)
    source = PAPER["datasets"]["bactrian-x-22"]["source"]
    got = load_language(source, "th")
    want = pd.read_json(data / "th" / "train.jsonl", lines=True)
    assert list(got["instruction"]) == list(want["instruction"]) and list(got["output"]) == list(want["output"])


def test_one_rule_tells_a_path_from_a_hub_id():
    """maple.paths.is_local decides for the config check, the download rules and task loading alike."""
    from maple import config as maple_config
    from maple import paths
    from maple.tasks import loading

    for path in ("resources/x", "results/raw/alpaca", "./x", "../x", "/abs/x", "~/x", "a/b/c", str(EVAL)):
        assert paths.is_local(path) and not hub.is_hub_id(path), path
    for repo in ("meta-llama/Llama-2-7b-hf", "tatsu-lab/alpaca_eval", "gpt2"):
        assert not paths.is_local(repo) and hub.is_hub_id(repo), repo
    assert loading.is_local is paths.is_local and maple_config.is_local is paths.is_local
