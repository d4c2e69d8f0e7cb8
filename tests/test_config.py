"""Config validation: every user mistake is one line naming the key and the allowed values."""

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maple import config as maple_config
from maple import grid

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def default_config():
    return maple_config.load_yaml(ROOT / "config.yaml")


@pytest.fixture()
def paper_config():
    return maple_config.load_yaml(ROOT / "config" / "paper.yaml")


def _error(config, root=ROOT) -> str:
    with pytest.raises(maple_config.ConfigError) as err:
        maple_config.validate(config, root)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_both_shipped_configs_are_valid(default_config, paper_config):
    maple_config.validate(paper_config, ROOT)
    maple_config.validate(default_config, ROOT) if (ROOT / "resources/data/alpaca").exists() else None


def test_unknown_model_in_grid(paper_config):
    paper_config["grid"][0]["models"].append("gpt-5")
    msg = _error(paper_config)
    assert "grid[0].models" in msg and "'gpt-5'" in msg and "llama-2-7b, mistral-7b" in msg


def test_unknown_dataset_in_grid(paper_config):
    paper_config["grid"][0]["datasets"] = ["dolly"]
    msg = _error(paper_config)
    assert "grid[0].datasets" in msg and "'dolly'" in msg and "alpaca" in msg


def test_bits_not_allowed(paper_config):
    paper_config["grid"][0]["bits"] = [4, 12]
    assert _error(paper_config) == "grid[0].bits[1]: 12 is not allowed; allowed values: 4, 8, 16"


def test_rank_not_allowed(paper_config):
    paper_config["grid"][0]["ranks"] = [8, 12]
    msg = _error(paper_config)
    assert msg.startswith("grid[0].ranks[1]: 12 is not allowed; allowed values: 4, 8, 16, 32, 64, 128")


def test_unknown_task(paper_config):
    paper_config["evaluation"]["tasks"]["hellaswag"] = {"source": "x/y", "languages": ["en"]}
    msg = _error(paper_config)
    assert "evaluation.tasks" in msg and "hellaswag" in msg and "xnli" in msg and "alpaca_eval" in msg


def test_unknown_key_names_allowed_keys(paper_config):
    paper_config["evaluation"]["mdoe"] = "merged"
    msg = _error(paper_config)
    assert "evaluation: unknown key(s) mdoe" in msg and "mode" in msg


def test_wrong_enum_value(paper_config):
    paper_config["evaluation"]["mode"] = "lora"
    assert _error(paper_config) == "evaluation.mode: 'lora' is not allowed; allowed values: merged, multi_lora"


def test_missing_local_data_path(paper_config):
    paper_config["datasets"]["alpaca"]["source"]["path"] = "resources/data/nowhere"
    assert _error(paper_config) == "datasets.alpaca.source.path: local directory resources/data/nowhere does not exist"


def test_per_cell_override_must_name_a_cell_and_known_keys(paper_config):
    bad = copy.deepcopy(paper_config)
    bad["training"]["per_cell"] = {"llama-2-7b/alpaca/r9-b16": {"learning_rate": 1e-4}}
    assert "is not a cell of the grid" in _error(bad)
    bad = copy.deepcopy(paper_config)
    bad["training"]["per_cell"] = {"llama-2-7b/alpaca/r8-b16": {"lr": 1e-4}}
    assert "unknown key 'lr'" in _error(bad)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nmodels: [unclosed\n")
    with pytest.raises(maple_config.ConfigError, match=r"bad.yaml is not valid YAML at line \d+"):
        maple_config.load_yaml(bad)


def test_overrides_apply_in_order(paper_config):
    cells = {c.id: c for c in grid.training_cells(paper_config)}
    # one recipe by default: the paper compares datasets
    assert grid.training_config(paper_config, cells["llama-2-7b/bactrian-x-22/r8-b4"])["learning_rate"] == 2e-4
    # the Bactrian-X recipe as the documented option, then a per-cell override on top
    paper_config["training"]["per_dataset"] = {"bactrian-x-22": {"learning_rate": 3e-4, "lora_dropout": 0.05}}
    paper_config["training"]["per_cell"] = {"mistral-7b/bactrian-x-22/r64-b8": {"learning_rate": 1e-5}}
    assert grid.training_config(paper_config, cells["llama-2-7b/alpaca/r8-b4"])["learning_rate"] == 2e-4
    assert grid.training_config(paper_config, cells["llama-2-7b/bactrian-x-22/r8-b4"])["learning_rate"] == 3e-4
    tuned = grid.training_config(paper_config, cells["mistral-7b/bactrian-x-22/r64-b8"])
    assert tuned["learning_rate"] == 1e-5 and tuned["rank"] == 64 and tuned["bits"] == 8


def test_secrets_never_reach_public_view():
    view = maple_config.public_view({"judge": {"api_key": "sk-1", "model": "m"}, "hf_token": "x", "a": [{"secret": 1}]})
    assert view == {"judge": {"model": "m"}, "a": [{}]}


def _snakemake(*args, cwd=ROOT):
    return subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path, paper_config):
    paper_config["grid"][0]["bits"] = [3]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(paper_config))
    result = _snakemake("-n", "--configfile", str(bad))
    assert result.returncode != 0
    assert "maple: config error: grid[0].bits[0]: 3 is not allowed; allowed values: 4, 8, 16" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert "Job stats" not in result.stdout


def test_snakemake_names_line_of_malformed_default_config(tmp_path):
    """The embedded config.yaml is checked before Snakemake parses it."""
    import shutil

    for name in ("Snakefile", "rules", "config", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    (tmp_path / "config.yaml").write_text("seed: 1\nmodels: [unclosed\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--cores", "1"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "maple: config error: config file config.yaml is not valid YAML at line" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_statistics_settings_are_checked(paper_config):
    paper_config["statistics"] = {"resamples": 5}
    assert _error(paper_config).startswith("statistics.resamples")
    paper_config["statistics"] = {"resamples": 1000, "confidence": 1.5}
    assert _error(paper_config).startswith("statistics.confidence")
    paper_config["statistics"] = {"resamples": 1000, "bootstraps": 3}
    assert "bootstraps" in _error(paper_config)


@pytest.mark.skipif(importlib.util.find_spec("alpaca_eval") is None, reason="alpaca_eval not installed")
def test_judge_annotator_is_an_installed_alpaca_eval_config(paper_config):
    cfg = copy.deepcopy(paper_config)
    cfg["evaluation"]["judge"]["annotator"] = "no_such_annotator"
    msg = _error(cfg)
    assert "evaluation.judge.annotator" in msg and "weighted_alpaca_eval_vllm_llama3_70b" in msg
    # served locally (model, no api): only a config that talks to an OpenAI-compatible endpoint
    cfg["evaluation"]["judge"]["annotator"] = "claude"
    assert "openai_completions" in _error(cfg)
    cfg["evaluation"]["judge"]["annotator"] = "weighted_alpaca_eval_vllm_llama3_70b"
    maple_config.validate(cfg, ROOT)
