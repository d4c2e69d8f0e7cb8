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
    with pytest.raises(maple_config.ConfigError, match=r"bad.yaml, line 3, column 1: not valid YAML: "):
        maple_config.load_yaml(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\ntraining:\n  a: 1\nseed: 2\n", "dup.yaml, line 4, column 1: not valid YAML: duplicate key 'seed' (first given at line 1)"),
        ("a:\n  b: 1\n  b: 2\n", "dup.yaml, line 3, column 3: not valid YAML: duplicate key 'b' (first given at line 2)"),
        ("seed: 1\n\tmodels: {}\n", "dup.yaml, line 2, column 1: not valid YAML: found character '\\t' that cannot start any token (indent with spaces, not tabs)"),
        ("", "dup.yaml, line 1, column 1: the file is empty"),
        ("# nothing\n", "dup.yaml, line 1, column 1: the file is empty"),
        ("- seed\n", "dup.yaml, line 1, column 1: must hold a mapping of keys"),
    ],
)
def test_bad_yaml_files_name_file_line_and_column(tmp_path, text, expected):
    bad = tmp_path / "dup.yaml"
    bad.write_text(text)
    with pytest.raises(maple_config.ConfigError) as err:
        maple_config.load_yaml(bad)
    assert str(err.value).startswith(f"config file {bad}") and expected in str(err.value), str(err.value)


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    ok = tmp_path / "merge.yaml"
    ok.write_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    assert maple_config.load_yaml(ok)["c"] == {"x": 3, "y": 2}


def test_configfile_options_are_found():
    argv = ["-n", "--configfile", "a.yaml", "b.yaml", "--cores", "1", "--configfiles=c.yaml", "x"]
    assert maple_config.configfiles_in(argv) == ["a.yaml", "b.yaml", "c.yaml"]


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
    assert "maple: config error: config file config.yaml, line 3, column 1: not valid YAML" in result.stderr + result.stdout
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


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.yaml", None, "config file {path} does not exist"),
        ("empty.yaml", "", "config file {path}, line 1, column 1: the file is empty"),
        ("tab.yaml", "seed: 1\n\tmodels: {}\n", "config file {path}, line 2, column 1: not valid YAML"),
        ("dup.yaml", "seed: 1\nseed: 2\n", "config file {path}, line 2, column 1: not valid YAML: duplicate key 'seed'"),
    ],
)
def test_snakemake_configfile_problems_are_one_line(tmp_path, name, text, expected):
    """Snakemake loads --configfile before the Snakefile; the workflow profile checks it first."""
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    result = _snakemake("-n", "--cores", "1", "--configfile", str(path))
    out = result.stderr + result.stdout
    assert result.returncode != 0
    assert f"maple: config error: {expected.format(path=path)}" in out, out[-2000:]
    assert "Traceback" not in out and "WorkflowError" not in out and "Job stats" not in out


def test_unknown_resource_rule_lists_the_rules_read(paper_config):
    paper_config["resources"]["trian_adapter"] = {"threads": 1}
    msg = _error(paper_config)
    assert msg.startswith("resources: 'trian_adapter' is not allowed; allowed values: default, ")
    assert "train_adapter" in msg and "generate_outputs" in msg
    # every name allowed is one a rule reads with res()/mem_on_attempt()
    for name in maple_config.resource_rules():
        assert f'rule {name}:' in "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))


def test_report_and_speed_keys_are_closed(paper_config):
    paper_config["report"]["belebel_groups"] = {}
    assert _error(paper_config).startswith("report: unknown key(s) belebel_groups; allowed keys: belebele_groups")
    del paper_config["report"]["belebel_groups"]
    paper_config["training"]["speed"] = {"b17": {}}
    assert _error(paper_config) == (
        "training.speed: unknown key(s) b17; allowed keys: default, b4, b8, b16, r{rank} (e.g. r8), "
        "b{bits}-r{rank} (e.g. b4-r64)"
    )


def test_belebele_group_codes_are_checked(paper_config):
    paper_config["report"]["belebele_groups"]["group1"].append("deu_latn")
    assert _error(paper_config).startswith("report.belebele_groups.group1[")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("template", "{instruction}\n{inptu_block}", "prompt.template: unknown placeholder(s) {inptu_block}"),
        ("template", "{instruction\n", "prompt.template: '{instruction\\n' is not a valid pattern"),
        ("template", "{input_block}### Response:\n", "has no {instruction}"),
        ("template", "{instruction}### Response:\n", "no {input_block}, yet prompt.input_block is set"),
        ("input_block", "Input: {inputs}\n", "prompt.input_block: unknown placeholder(s) {inputs}"),
    ],
)
def test_prompt_template_fields(paper_config, key, value, expected):
    paper_config["prompt"][key] = value
    assert expected in _error(paper_config)


def test_source_placeholders(paper_config):
    bad = copy.deepcopy(paper_config)
    bad["datasets"]["multialpaca"]["source"]["data_files"] = "{language}.jsonl"
    assert _error(bad).startswith("datasets.multialpaca.source.data_files: unknown placeholder(s) {language}")
    bad = copy.deepcopy(paper_config)
    bad["evaluation"]["tasks"]["xnli"]["data_files"] = {"test": "{lang}/{spilt}.jsonl"}
    assert _error(bad).startswith("evaluation.tasks.xnli.data_files.test: unknown placeholder(s) {spilt}")


needs_bundled = pytest.mark.skipif(not (ROOT / "resources/data/multialpaca").exists(), reason="bundled data absent")


@needs_bundled
def test_dataset_languages_against_a_local_source(default_config):
    bad = copy.deepcopy(default_config)
    bad["datasets"]["multialpaca"]["languages"][1] = "deu"
    msg = _error(bad)
    assert msg.startswith("datasets.multialpaca.languages[1]: 'deu' is not in resources/data/multialpaca")
    assert "it has: ar, de, es" in msg
    bad = copy.deepcopy(default_config)
    bad["datasets"]["bactrian-x-22"]["languages"].append("xx")
    assert _error(bad).startswith("datasets.bactrian-x-22.languages[22]: 'xx' is not in resources/data/bactrian-x")


@needs_bundled
def test_task_languages_against_a_local_source(default_config):
    default_config["evaluation"]["tasks"]["xnli"]["languages"].append("ur")  # XNLI has it; the bundled subset not
    assert _error(default_config).startswith("evaluation.tasks.xnli.languages[3]: task xnli: no config 'ur'")


def test_task_language_codes_are_the_workflows(paper_config):
    paper_config["evaluation"]["tasks"]["xlsum"]["languages"] = ["th"]
    assert _error(paper_config).startswith("evaluation.tasks.xlsum.languages[0]")


@pytest.mark.parametrize("targets", [["q_proj", "v_prj"], "qproj", ["self_attn.q_prj"]])
def test_target_modules_against_the_models_modules(default_config, targets):
    default_config["training"]["target_modules"] = targets
    bad = targets if isinstance(targets, str) else targets[-1]
    msg = _error(default_config)
    assert msg.startswith(f"training.target_modules: {bad!r} matches no module of model tiny-llama")
    assert "q_proj" in msg and "down_proj" in msg


def test_target_modules_match_as_peft_does(default_config):
    """maple's check agrees with peft's own matching on the model's module names."""
    from peft import LoraConfig
    from peft.tuners.tuners_utils import check_target_module_exists

    names = maple_config.model_module_names(default_config["models"]["tiny-llama"], ROOT)
    assert "model.layers.0.self_attn.q_proj" in names
    for targets in (["q_proj"], ["self_attn.q_proj"], ["q_prj"], ["layers.0.mlp.up_proj"], ".*\\.v_proj", "v_proj"):
        cfg = LoraConfig(target_modules=targets)
        peft_hit = any(check_target_module_exists(cfg, n) for n in names)
        entries = [targets] if isinstance(targets, str) else targets
        assert all(maple_config._targets_match(e, names, isinstance(targets, str)) for e in entries) == peft_hit


def test_target_modules_per_dataset_override_is_named(default_config):
    default_config["training"]["per_dataset"] = {"alpaca": {"target_modules": ["k_prj"]}}
    assert _error(default_config).startswith("training.per_dataset.alpaca.target_modules: 'k_prj' matches no module")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["resources"].update(trian_adapter={"threads": 1}), "resources: 'trian_adapter' is not allowed"),
        (lambda c: c["prompt"].update(template="{instruction}{inptu_block}"), "prompt.template: unknown placeholder"),
        (lambda c: c["training"].update(target_modules=["q_proj", "v_prj"]), "training.target_modules: 'v_prj'"),
        (lambda c: c["training"].update(speed={"b17": {}}), "training.speed: unknown key(s) b17; allowed keys: default"),
    ],
)
def test_snakemake_refuses_the_issues_bad_configs_before_any_job(tmp_path, default_config, edit, expected):
    """Those that passed the dry run and failed inside jobs (issue 20), through the user's command."""
    edit(default_config)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(default_config))
    result = _snakemake("-n", "--configfile", str(bad))
    out = result.stderr + result.stdout
    assert result.returncode != 0 and f"maple: config error: {expected}" in out, out[-2000:]
    assert "Traceback" not in out and "Job stats" not in out


def test_target_modules_of_a_hub_model_in_the_local_cache(tmp_path, paper_config):
    """A hub model already in the HF cache is checked from its safetensors index (no download)."""
    import json

    revision = paper_config["models"]["llama-2-7b"]["revision"]  # the pinned commit is looked up
    snapshot = tmp_path / "hub" / "models--meta-llama--Llama-2-7b-hf" / "snapshots" / revision
    snapshot.mkdir(parents=True)
    weights = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight", "lm_head.weight"]
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {w: "x" for w in weights}}))
    paper_config["hf_home"] = str(tmp_path)
    paper_config["training"]["target_modules"] = ["q_proj", "down_proj"]
    maple_config.validate(copy.deepcopy(paper_config), ROOT)  # mistral-7b is not cached: not checked
    paper_config["training"]["target_modules"] = ["q_proj", "gate_prj"]
    assert _error(paper_config).startswith("training.target_modules: 'gate_prj' matches no module of model llama-2-7b")


def test_task_sources_and_data_files_splits_name_what_the_task_reads(paper_config):
    bad = copy.deepcopy(paper_config)
    bad["evaluation"]["tasks"]["xquad"]["sources"] = {"sqaud": "rajpurkar/squad"}
    assert _error(bad) == "evaluation.tasks.xquad.sources: unknown dataset 'sqaud'; xquad reads squad"
    bad = copy.deepcopy(paper_config)
    bad["evaluation"]["tasks"]["xnli"]["data_files"] = {"tset": "{lang}.jsonl"}
    assert _error(bad).startswith("evaluation.tasks.xnli.data_files: unknown split 'tset'; xnli reads ")
    ok = copy.deepcopy(paper_config)
    ok["evaluation"]["tasks"]["xquad"]["sources"] = {"squad": "rajpurkar/squad"}
    maple_config.validate(ok, ROOT)


def test_empty_training_block_is_refused_in_one_line():
    """Found by the property test (hypothesis, `training: {}`): a KeyError at the target_modules check,
    where the trainer would fail the same way in every training job."""
    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text(encoding="utf-8"))
    cfg["training"] = {}
    with pytest.raises(maple_config.ConfigError, match=r"^training\.target_modules: missing .*allowed: 'all-linear'"):
        maple_config.validate(cfg)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([["xcopa", "xqaud"]], "evaluation.task_groups[0]: 'xqaud' is not a task; allowed values: xnli, "),
        ([["xcopa", "xquad"], ["belebele", "xquad"]], "evaluation.task_groups[1]: 'xquad' is already in task_groups[0]"),
        ([["xcopa", "xcopa"]], "evaluation.task_groups[0]: xcopa listed more than once"),
        ([["xcopa"]], "evaluation.task_groups[0]: "),
    ],
)
def test_task_groups_name_tasks_once(paper_config, groups, expected):
    paper_config["evaluation"]["task_groups"] = groups
    assert _error(paper_config).startswith(expected), _error(paper_config)


def test_a_task_group_keeps_only_evaluated_tasks(paper_config):
    """Dropping a task from evaluation.tasks leaves it out of its group; a group of one is that task's job."""
    paper_config["evaluation"]["task_groups"] = [["xnli", "xcopa", "xlsum"], ["mlqa", "belebele"]]
    del paper_config["evaluation"]["tasks"]["xcopa"], paper_config["evaluation"]["tasks"]["belebele"]
    maple_config.validate(paper_config, ROOT)
    assert grid.task_groups(paper_config) == [("xnli", "xlsum")]
    assert grid.task_job(paper_config, "xlsum") == "xnli+xlsum" and grid.task_job(paper_config, "mlqa") == "mlqa"
