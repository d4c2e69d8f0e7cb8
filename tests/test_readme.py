"""The README is a user's guide whose numbers come from the commands it names: the job counts it
states are what those dry runs plan, its maple.targets examples are targets of the DAG they name,
its figure map names the files the workflow writes, and its links resolve."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from maple import paths
from maple.report.figure_names import STEMS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def code_lines() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", README, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    exe = {"snakemake": str(BIN / "snakemake"), "python": sys.executable}
    argv = [exe.get(argv[0], argv[0]), *argv[1:]]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_readme_is_short():
    assert len(README.splitlines()) < 200


@pytest.mark.parametrize("line", [line for line in code_lines() if re.search(r"# \d+ jobs: ", line)])
def test_stated_job_counts_are_the_dry_runs(line):
    command, stated = line.split("#", 1)
    total, per_rule = re.match(r"\s*(\d+) jobs: (.*)$", stated).groups()
    argv = shlex.split(command)
    assert argv[0] == "snakemake" and "-n" in argv and "--forceall" in argv  # the whole plan, whatever exists
    result = run(argv)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M)}
    assert counts["total"] == int(total)
    for count, rule in (item.split() for item in per_rule.split(", ")):
        assert counts.get(rule) == int(count), f"{rule}: README says {count}, the dry run plans {counts.get(rule)}"


def test_targets_examples_work_as_written():
    """Each `snakemake ... $(python -m maple.targets ...)` example: the same --configfile on both sides,
    followed by another option (it takes every word after it as a config file), and its targets in
    the DAG of that config (one dry run per config for all its examples)."""
    examples = [line for line in code_lines() if "$(python -m maple.targets" in line]
    assert len(examples) >= 5
    targets: dict = {}
    for line in examples:
        outer, inner = re.match(r"(.*)\$\((python -m maple\.targets[^)]*)\)", line).groups()
        outer_args, inner_args = shlex.split(outer), shlex.split(inner)
        assert outer_args[0] == "snakemake", line
        config = "config.yaml"
        if "--configfile" in outer_args:
            i = outer_args.index("--configfile")
            assert i + 2 < len(outer_args) and outer_args[i + 2].startswith("-"), f"targets read as config files: {line}"
            config = outer_args[i + 1]
        assert config == (inner_args[inner_args.index("--configfile") + 1] if "--configfile" in inner_args
                          else "config.yaml"), line
        result = run(inner_args)
        assert result.returncode == 0 and result.stdout.split(), result.stderr
        targets.setdefault(config, set()).update(result.stdout.split())
    for config, wanted in targets.items():
        result = run(["snakemake", *sorted(wanted), "-n", "--forceall", "--configfile", config])
        assert result.returncode == 0, result.stderr[-2000:]


def test_figure_map_names_the_files_written():
    named = set(re.findall(r"`(?:figures/)?(\w+)_\{protocol\}\.png`", README))
    assert named == set(STEMS.values())
    for name in paths.TABLE_NAMES:
        stem, ext = name.split(".")
        assert f"results/tables/{stem}" in README, name
    one = re.search(r"snakemake --cores 2 (figures/\S+\.png)", README).group(1)
    assert one in paths.figure_pngs(["megaverse", "reference"])


def test_links_resolve():
    links = {link.split("#")[0] for link in re.findall(r"\]\(([^)#][^)]*)\)", README) if "://" not in link}
    missing = {link for link in links if not (ROOT / link).exists()}
    assert not missing, missing


def test_cost_section_is_the_plans_output():
    """README's cost figures are docs/cost.md's (maple.plan --markdown --readme), not hand-written."""
    from maple.plan.cost_doc import readme_block

    cost = (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")
    assert readme_block(cost) in README
    assert "--readme README.md" in cost.splitlines()[2]
