"""Documented targets for one cell or one task (python -m maple.targets)."""

from pathlib import Path

import pytest
import yaml

from maple import config as maple_config
from maple.targets import score_targets

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config():
    return maple_config.validate(yaml.safe_load((ROOT / "config.yaml").read_text()), ROOT)


def test_one_task_one_cell_and_everything(config):
    assert score_targets(config, ["tiny-llama/alpaca/r8-b16"], ["xnli"]) == ["results/scores/tiny-llama/alpaca/r8-b16/xnli.json"]
    assert len(score_targets(config, tasks=["xlsum"])) == 20  # 18 cells + 2 base models
    assert len(score_targets(config, cells=["tiny-mistral/none/base"])) == 7
    assert len(score_targets(config)) == 140


def test_unknown_names_are_one_line(config):
    with pytest.raises(maple_config.ConfigError, match="--task: 'nope' is not in the config"):
        score_targets(config, tasks=["nope"])


def _targets(*args, cwd=ROOT):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "maple.targets", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize("args, needle", [
    (["--task", "xnlii"], "--task: 'xnlii' is not in the config; known: xnli"),
    (["--cell", "tiny-llama/alpaca/r8"], "--cell: 'tiny-llama/alpaca/r8' is not in the config"),
    (["--configfile", "nowhere.yaml"], "config file nowhere.yaml does not exist"),
    (["--tsak", "xnli"], "unrecognized arguments: --tsak xnli"),
])
def test_cli_refuses_in_one_line_exit_2(args, needle):
    out = _targets(*args)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_refused_target_list_stops_snakemake_before_any_job():
    """`snakemake $(python -m maple.targets --task typo)` must not run the whole study."""
    import subprocess
    import sys

    out = _targets("--task", "xnlii")
    snakemake = str(Path(sys.executable).parent / "snakemake")
    run = subprocess.run([snakemake, "-n", "--cores", "1", *out.stdout.split()], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0 and "Job stats" not in run.stdout
    assert "maple.targets-failed--see-the-error-above" in run.stdout + run.stderr
