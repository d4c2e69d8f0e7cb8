"""Load one split of a task's data through `datasets.load_dataset` (imported lazily).

A source is a hub id or a local directory in the hub layout (README.md with a `configs:` block).
For local directories the README is read first so that a missing language or split gives a
one-line TaskDataError naming what exists, before `datasets` is even imported.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os

from maple.paths import is_local
from maple.tasks.spec import DataRef, TaskDataError, TaskSpec


def resolve_source(spec: TaskSpec, ref: DataRef, task_cfg: dict) -> str:
    """Where `ref` lives for this config: the task's own `source`, an explicit `sources` entry, the
    sibling directory of a local `source` (e.g. resources/eval/squad beside resources/eval/xquad),
    or the hub id."""
    source = task_cfg.get("source") or spec.data.hub_id
    if ref is spec.data:
        return source
    override = (task_cfg.get("sources") or {}).get(ref.local_name)
    if override:
        return override
    if is_local(source):
        return os.path.join(os.path.dirname(os.path.normpath(source)), ref.local_name)
    return ref.hub_id


def local_configs(directory: str) -> dict[str, list[str]] | None:
    """config name -> split names from a hub-layout README.md; None when it declares none."""
    readme = os.path.join(directory, "README.md")
    if not os.path.isfile(readme):
        return None
    import yaml

    with open(readme, encoding="utf-8") as fh:
        text = fh.read()
    if not text.startswith("---"):
        return None
    meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    configs = {}
    for cfg in meta.get("configs") or []:
        files = cfg.get("data_files") or []
        if isinstance(files, (str, dict)):
            files = [files]
        configs[str(cfg["config_name"])] = [f.get("split", "train") if isinstance(f, dict) else "train" for f in files]
    return configs or None


def load_rows(task: str, lang: str, source: str, config: str, split: str, data_files=None, revision=None):
    """The `datasets.Dataset` of one split; errors are one-line TaskDataErrors.

    revision: a hub branch or commit (e.g. refs/convert/parquet for a repository whose main branch
    holds a loading script, which datasets >= 4 refuses); ignored for local sources."""
    if data_files:
        return _load_file(task, lang, source, config, split, data_files, revision)
    cache_key = None
    if not is_local(source) and os.environ.get("HF_HUB_OFFLINE") == "1":
        # compute nodes: the snapshot the download_eval rule fetched on the submit host
        source = local_snapshot(source, revision) or source
    if is_local(source):
        if is_parquet_export(source):
            return _load_export(task, lang, source, config, split)
        _check_local(task, lang, source, config, split)
        source = os.path.abspath(source)
        cache_key = _content_key(source)
        revision = None
    elif revision == PARQUET_EXPORT:
        return _load_export(task, lang, f"hf://datasets/{source}@{PARQUET_EXPORT.replace('/', '%2F')}", config, split)
    try:
        return _load(source, config, split, cache_key, revision)
    except Exception as err:  # datasets raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        offline = " (HF_HUB_OFFLINE=1: only the local snapshot is read)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        raise TaskDataError(
            f"task {task}, language {lang}: cannot load {source} config {config} split {split}{offline}: {first}"
        ) from None


PARQUET_EXPORT = "refs/convert/parquet"  # the hub's parquet export: {config}/{split}/NNNN.parquet


def local_snapshot(repo_id: str, revision: str | None) -> str | None:
    """The local snapshot directory of a hub dataset in the HF cache (HF_HOME), if downloaded."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, repo_type="dataset", revision=revision, local_files_only=True)
    except Exception:  # not in the cache: the caller's loader reports it in one line
        return None


def is_parquet_export(directory: str) -> bool:
    """A snapshot of a repository's refs/convert/parquet branch: no README configs, parquet files two
    levels down. datasets would not see its configs in a local directory, so maple reads the files."""
    return (
        local_configs(directory) is None
        and bool(glob.glob(os.path.join(directory, "*", "*", "*.parquet")))
    )


def _load_export(task, lang, base, config, split):
    """One config and split of a parquet export (local snapshot or hf:// URL), read with the parquet builder."""
    if not base.startswith("hf://"):
        present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(base, "*")) if os.path.isdir(p))
        if config not in present:
            raise TaskDataError(
                f"task {task}: no config {config!r} for language {lang} in {base}; configs there: {', '.join(present)}"
            )
        splits = sorted(os.path.basename(p) for p in glob.glob(os.path.join(base, config, "*")))
        if split not in splits:
            raise TaskDataError(
                f"task {task}, language {lang}: config {config} in {base} has no split {split!r}; "
                f"splits there: {', '.join(splits)}"
            )
    try:
        return _load_parquet(f"{base}/{config}/{split}/*.parquet", split)
    except Exception as err:  # datasets raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TaskDataError(f"task {task}, language {lang}: cannot load {base} config {config} split {split}: {first}") from None


@functools.lru_cache(maxsize=None)
def _load_parquet(pattern: str, split: str):
    import datasets

    return datasets.load_dataset("parquet", data_files={split: pattern}, split=split)


def _check_local(task, lang, source, config, split) -> None:
    if not os.path.isdir(source):
        raise TaskDataError(f"task {task}, language {lang}: source directory {source} does not exist")
    configs = local_configs(source)
    if configs is None:
        return  # no configs block: let datasets infer the layout
    if config not in configs:
        raise TaskDataError(
            f"task {task}: no config {config!r} for language {lang} in {source}; configs there: {', '.join(configs)}"
        )
    if split not in configs[config]:
        raise TaskDataError(
            f"task {task}, language {lang}: config {config} in {source} has no split {split!r}; "
            f"splits there: {', '.join(configs[config])}"
        )


def _load_file(task, lang, source, config, split, data_files, revision=None):
    """Flat JSON/JSONL files named by a pattern (keys lang, config, split), relative to `source`: a
    local directory, or a hub repository read file by file (hf://), which also works for
    repositories whose loading script datasets >= 4 refuses (tatsu-lab/alpaca_eval)."""
    pattern = data_files.get(split) if isinstance(data_files, dict) else data_files
    if not pattern:
        raise TaskDataError(f"task {task}, language {lang}: data_files names no file for split {split!r}")
    name = pattern.format(lang=lang, config=config, split=split)
    if not is_local(source) and os.environ.get("HF_HUB_OFFLINE") == "1":
        source = local_snapshot(source, revision) or source
    if not is_local(source):
        url = f"hf://datasets/{source}{'@' + revision if revision else ''}/{name}"
        try:
            return _load_json(url, split)
        except Exception as err:  # datasets raises many types; the user needs one line
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise TaskDataError(f"task {task}, language {lang}: cannot load {url}: {first}") from None
    path = os.path.join(source, name)
    if not os.path.isfile(path):
        present = sorted(os.path.basename(f) for f in glob.glob(os.path.join(os.path.dirname(path), "*")))
        raise TaskDataError(
            f"task {task}, language {lang}: no file {path} for split {split}; "
            f"files there: {', '.join(present) or 'none'}"
        )
    return _load_json(os.path.abspath(path), split)


@functools.lru_cache(maxsize=None)
def _load_json(path: str, split: str):
    import datasets

    return datasets.load_dataset("json", data_files={split: path}, split=split)


def _content_key(directory: str) -> str:
    """Size and mtime of every file under a local source. `datasets` keys its Arrow cache of a
    README-configured directory on the file patterns only, so edited files would be served stale:
    a cache directory per content state avoids that."""
    stats = []
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            stats.append(f"{os.path.join(root, name)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(stats).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _load(source: str, config: str, split: str, cache_key: str | None = None, revision: str | None = None):
    """Cached per process: the few-shot pool (e.g. SQuAD) is shared by every language."""
    import datasets

    cache_dir = os.path.join(datasets.config.HF_DATASETS_CACHE, "maple-local", cache_key) if cache_key else None
    return datasets.load_dataset(source, name=config, split=split, cache_dir=cache_dir, revision=revision)
