"""One table from rule to resources and GPU placement (maple.resources): the rules, the SLURM profile,
the cost report and the offline switch read it, so none can drift from the others."""

import re
from pathlib import Path

import pytest
import yaml

from maple import config as maple_config
from maple import resources
from maple.report.cost import cost_tables, gpus_from_config

ROOT = Path(__file__).resolve().parent.parent
PAPER = maple_config.load(ROOT / "config" / "paper.yaml")
EMBEDDED = maple_config.load(ROOT / "config.yaml")


def rule_blocks() -> dict:
    blocks = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")) + [ROOT / "Snakefile"]:
        parts = re.split(r"(?m)^(?=rule \w+:)", smk.read_text(encoding="utf-8"))
        for part in parts:
            m = re.match(r"rule (\w+):", part)
            if m:
                blocks[m.group(1)] = part
    return blocks


def test_every_rule_declares_its_needs_from_the_table():
    blocks = {name: text for name, text in rule_blocks().items() if name != "all"}
    assert set(blocks) == set(resources.RULES), "rules/ and maple.resources.RULES name different rules"
    for name, text in blocks.items():
        assert f'threads: res("{name}", "threads")' in text, name
        assert f'**rule_resources("{name}")' in text, name
        assert not re.search(r"^\s+(mem_mb|runtime|gpu)=", text, re.M), f"{name}: a resource outside the table"


def test_hub_rules_run_on_the_submit_host():
    local = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:    .*\n)+)", smk.read_text(encoding="utf-8"), re.M):
            local |= {line.strip().split(",")[0] for line in block.splitlines() if line.strip()}
    assert set(resources.HUB_RULES) <= local and set(resources.HUB_RULES).isdisjoint(resources.GPU_RULES)


def test_slurm_profile_places_exactly_the_gpu_rules():
    yte = pytest.importorskip("yte")
    with open(ROOT / "profiles" / "slurm" / "config.yaml", encoding="utf-8") as fh:
        profile = yte.process_yaml(fh)
    placed = {rule for rule, res in profile["set-resources"].items() if "slurm_partition" in res}
    assert placed == set(resources.GPU_RULES)
    assert {"generate_group_outputs", "judge_group_alpaca_eval", "train_adapter"} <= placed


def test_declared_table_then_default_then_rule():
    config = {"resources": {"default": {"threads": 3, "gpu": 1}, "generate_outputs": {"mem_mb": 9000}}}
    group = resources.declared(config, "generate_group_outputs")  # reads generate_outputs' entry
    assert group == {"threads": 3, "mem_mb": 9000, "runtime": 60, "gpu": 1, "mem_mb_per_retry": 1.5}
    assert resources.declared(config, "score_outputs")["gpu"] == 0  # a CPU rule never holds a GPU
    assert resources.declared({}, "download_model")["runtime"] == 240
    with pytest.raises(KeyError, match="add its needs there"):
        resources.declared(config, "new_rule")


def test_paper_grid_gpus_reach_group_jobs_and_not_cpu_jobs():
    gpus = gpus_from_config(PAPER)
    assert {rule for rule, n in gpus.items() if n} == set(resources.GPU_RULES)
    assert all(n == 0 for n in gpus_from_config(EMBEDDED).values())


def test_cost_counts_group_generation_and_judging_gpu_hours(tmp_path):
    bench = tmp_path / "benchmarks"
    for rel in ("generate_group_outputs/llama-2-7b/lora-r8/xnli.tsv", "judge_group_alpaca_eval/llama-2-7b/lora-r8.tsv"):
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / rel).write_text("s\th:m:s\tmax_rss\tcpu_time\n3600\t1:00:00\t100\t10\n")
    stages = cost_tables(str(bench), gpus_from_config(PAPER))["per_stage"].set_index("stage")
    assert stages.loc["generate_group_outputs", "gpu_h"] == pytest.approx(1.0)
    assert stages.loc["judge_group_alpaca_eval", "gpu_h"] == pytest.approx(1.0)


@pytest.mark.parametrize("resources_block, message", [
    ({"train_adaptor": {"threads": 2}}, "resources: 'train_adaptor' is not allowed; allowed values: default, "),
    ({"score_outputs": {"gpu": 1}}, "resources.score_outputs.gpu: score_outputs runs on CPU"),
])
def test_config_resources_name_table_rules(resources_block, message):
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["resources"] = resources_block
    with pytest.raises(maple_config.ConfigError) as err:
        maple_config.validate(config, ROOT)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
