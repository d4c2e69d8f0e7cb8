"""Helpers for the tests that drive the workflow through profiles/slurm on a real SLURM cluster.

The cluster is the one-node test cluster of `make test-slurm` (slurm/cluster.sh). These tests run
only when MAPLE_SLURM_TESTS=1 (set by `make test-slurm`) and `sinfo` answers; otherwise they are
skipped before any work, so a plain `pytest` never waits on them.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("MAPLE_SLURM_PYTHON", str(ROOT / "slurm" / ".venv" / "bin" / "python"))
@functools.lru_cache(maxsize=1)
def cluster_problem() -> str | None:
    """Why the SLURM tests cannot run here, or None. Cheap checks first: a plain pytest skips fast."""
    if os.environ.get("MAPLE_SLURM_TESTS") != "1":
        return "SLURM tests run only under `make test-slurm` (MAPLE_SLURM_TESTS=1)"
    if shutil.which("sinfo") is None:
        return "no SLURM client (sinfo) on PATH"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    if out.returncode != 0 or not re.search(r"\b(idle|mixed|allocated)\b", out.stdout):
        return f"no SLURM node up (sinfo: {out.stdout.strip() or out.stderr.strip()})"
    if not Path(PYTHON).exists():
        return f"no Python with the SLURM executor plugin at {PYTHON} (make test-slurm makes it)"
    return None


@functools.lru_cache(maxsize=1)
def _embedded_default() -> str:
    """config.yaml as it was when the session started: a later edit of the repo's copy (others
    work on it meanwhile) would change params between a scenario's runs and rerun everything."""
    return (ROOT / "config.yaml").read_text()


def small_config() -> dict:
    """The embedded default, shrunk: three tiny-llama cells, one language per task, 2 examples,
    evaluated as the paper grid is on a cluster (config/paper.yaml): `evaluation.mode: merged`, one
    generation job per cell from its merged checkpoint, kept only until generated from
    (`merge.keep: false`, temp()). GPU rules ask for a (fake) GPU as on the paper grid, so GRES
    scheduling and the GPU partition are exercised.
    """
    config = yaml.safe_load(_embedded_default())
    config["grid"] = [
        {"models": ["tiny-llama"], "datasets": ["alpaca", "multialpaca"], "ranks": [8], "bits": [16]},
        {"models": ["tiny-llama"], "datasets": ["alpaca"], "ranks": [16], "bits": [16]},
    ]
    config["models"] = {"tiny-llama": config["models"]["tiny-llama"]}
    config["datasets"] = {k: v for k, v in config["datasets"].items() if k in ("alpaca", "multialpaca")}
    config["training"]["max_steps"] = 4
    config["training"]["save_steps"] = 2
    config["evaluation"]["max_examples"] = 2
    config["evaluation"]["mode"] = "merged"
    config["merge"] = {"keep": False}
    config["evaluation"]["judge"]["model"] = "tiny-llama"
    for task in config["evaluation"]["tasks"].values():
        task["languages"] = task["languages"][:1]
    for rule in ("train_adapter", "merge_adapter", "generate_outputs", "judge_alpaca_eval"):
        config["resources"].setdefault(rule, {})["gpu"] = 1
    return config


FAIL_CELL = "tiny-llama/alpaca/r16-b16"  # the cell tests make fail
OTHER_CELLS = ["tiny-llama/alpaca/r8-b16", "tiny-llama/multialpaca/r8-b16"]


def with_cell(config: dict, cell: str, **settings) -> dict:
    """A copy of config with training.per_cell[cell] updated."""
    out = copy.deepcopy(config)
    out["training"].setdefault("per_cell", {}).setdefault(cell, {}).update(settings)
    return out


def make_workdir(path: Path, seed: Path | None = None) -> Path:
    """A self-contained working directory: the bundled data copied (not linked: a later edit of the
    repo's copy would look like new inputs to the runs) and, from `seed`, the models and data built
    there (copied with their times, so nothing upstream reruns)."""
    path.mkdir(parents=True, exist_ok=True)
    if seed is None:
        for name in ("data", "eval"):
            shutil.copytree(ROOT / "resources" / name, path / "resources" / name)
    else:
        for sub in ("resources", "results/raw", "results/tokenised"):
            if (seed / sub).exists():
                (path / sub).parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-a", str(seed / sub), str(path / sub)], check=True)
    return path


class Run:
    """One snakemake invocation through profiles/slurm; output goes to <workdir>/<name>.out."""

    def __init__(self, workdir: Path, config: dict, *args: str, name: str = "run"):
        self.workdir = Path(workdir)
        self.name = name
        self.config_file = self.workdir / f"{name}.yaml"
        self.config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        self.out_path = self.workdir / f"{name}.out"
        self.cmd = [
            PYTHON, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(self.workdir),
            "--profile", str(ROOT / "profiles" / "slurm"),
            "--workflow-profile", "none",  # profiles/default (local runs) would override keys of profiles/slurm
            "--configfile", str(self.config_file),
            # test-cluster specifics: no slurmdbd (status from squeue; MinJobAge keeps ended jobs
            # listed), frequent polling, SLURM logs kept for inspection
            "--slurm-status-command", "squeue",
            "--slurm-init-seconds-before-status-checks", "2",
            "--slurm-keep-successful-logs",
            *args,
        ]
        env = {
            **os.environ,
            "MAPLE_SLURM_ACCOUNT": "",  # no accounting database on the test cluster: no accounts
            "MAPLE_SLURM_PARTITION": "cpu",
            "MAPLE_SLURM_GPU_PARTITION": "gpu",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HOME": str(ROOT / ".cache" / "hf"),
            "HF_DATASETS_CACHE": str(self.workdir / ".cache" / "datasets"),
            "VLLM_CACHE_ROOT": str(ROOT / ".cache" / "vllm"),
        }
        self.started = time.time()
        self._out = open(self.out_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, env=env, stdout=self._out,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.returncode: int | None = None

    def wait(self, timeout: float = 1200) -> "Run":
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # snakemake cancels its SLURM jobs on SIGTERM
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            raise AssertionError(f"snakemake ran over {timeout}s; output:\n{self.tail()}") from None
        finally:
            self._out.close()
        self.seconds = time.time() - self.started
        return self

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def tail(self, n: int = 6000) -> str:
        return self.output[-n:]


def run_snakemake(workdir: Path, config: dict, *args: str, name: str = "run", timeout: float = 1200) -> Run:
    return Run(workdir, config, *args, name=name).wait(timeout)


def dry_run(workdir: Path, config: dict, *args: str, name: str = "dry") -> dict[str, int]:
    run = run_snakemake(workdir, config, "-n", *args, name=name, timeout=300)
    assert run.returncode == 0, run.tail()
    return planned_jobs(run.output)


def planned_jobs(output: str) -> dict[str, int]:
    """Jobs per rule from the first 'Job stats:' table of a snakemake log."""
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M) if k != "total"}


def squeue_jobs() -> list[dict]:
    """Every job SLURM still lists (MinJobAge keeps ended jobs): id, state, memory, comment, name."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%m|%k|%j|%b"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    rows = []
    for line in out.splitlines():
        jobid, state, mem, comment, name, gres = line.split("|", 5)
        rows.append({"id": jobid, "state": state, "mem": mem, "comment": comment, "name": name, "gres": gres})
    return rows


def mem_mb(squeue_mem: str) -> int:
    value, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", squeue_mem).groups()
    return int(float(value) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[unit])


def slurm_run_id(output: str) -> str:
    return re.search(r"SLURM run ID: (\S+)", output).group(1)


def jobs_of_run(output: str) -> list[dict]:
    run_id = slurm_run_id(output)
    return [j for j in squeue_jobs() if j["name"] == run_id]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_details(jobid: str) -> dict[str, str]:
    """`scontrol show job -o` as a dict (ended jobs stay listed for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", str(jobid)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def scancel(jobid: str) -> None:
    subprocess.run(["scancel", str(jobid)], check=True, timeout=30)


def job_state(jobid: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", str(jobid), "-o", "%T"], capture_output=True,
                         text=True, timeout=30).stdout.strip()
    return out


def complete_checkpoints(checkpoint_dir: Path) -> list[int]:
    """Steps of the checkpoints that were written to the end (trainer_state.json is written last)."""
    if not checkpoint_dir.is_dir():
        return []
    steps = []
    for sub in checkpoint_dir.glob("checkpoint-*"):
        if (sub / "trainer_state.json").exists() and sub.name.split("-")[-1].isdigit():
            steps.append(int(sub.name.split("-")[-1]))
    return sorted(steps)


def load_adapter(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def planned_job_list(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job block snakemake printed (dry run: planned; real run: started)."""
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", output, re.M):
        found = re.search(r"^    wildcards: (.*)$", body, re.M)
        wildcards = dict(kv.split("=", 1) for kv in found.group(1).split(", ")) if found else {}
        jobs.append((rule, wildcards))
    return jobs


def cell_of_job(rule: str, wildcards: dict[str, str]) -> str | None:
    """The cell a job works for, 'model/lora-rN' for a multi-LoRA group job, 'data:...' for the data
    rules, None for an aggregate job (report stage: no cell in its wildcards)."""
    if "cell" in wildcards:
        return wildcards["cell"]
    if {"model", "dataset", "rank", "bits"} <= wildcards.keys():
        return f"{wildcards['model']}/{wildcards['dataset']}/r{wildcards['rank']}-b{wildcards['bits']}"
    if {"model", "rank"} <= wildcards.keys():
        return f"{wildcards['model']}/lora-r{wildcards['rank']}"
    if "model" in wildcards or "dataset" in wildcards:
        return f"data:{rule}:{wildcards}"
    return None


def incomplete_markers(workdir: Path) -> list[str]:
    """Outputs snakemake has marked incomplete (a job was running when it lost track of it)."""
    import base64

    root = workdir / ".snakemake" / "incomplete"
    names = []
    for marker in root.rglob("*") if root.exists() else []:
        if marker.is_file():
            try:
                names.append(base64.urlsafe_b64decode(marker.name.encode()).decode())
            except ValueError:
                names.append(marker.name)
    return names


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def kill_job_processes(jobid: str) -> list[int]:
    """SIGKILL every process of a running job, as a node crash would: no one gets to clean up.
    (`scancel`, even --signal=KILL, sends SIGTERM first and snakemake in the job tidies up.)
    The job's processes (scontrol listpids, and their descendants) are frozen with SIGSTOP until
    the set is stable, so none can react to another's death, then killed."""
    import signal

    frozen: set[int] = set()
    for _ in range(10):
        out = subprocess.run(["scontrol", "listpids", str(jobid)], capture_output=True, text=True, timeout=30).stdout
        pids = {int(line.split()[0]) for line in out.splitlines()[1:] if line.split() and line.split()[0].isdigit()}
        children, todo = _children(), list(pids | frozen)
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                if child not in pids:
                    pids.add(child)
                    todo.append(child)
        new = pids - frozen
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen |= new
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(frozen)
