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
