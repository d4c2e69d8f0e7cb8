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

from maple.tasks.spec import DataRef, TaskDataError, TaskSpec


def looks_local(source: str) -> bool:
    """A path rather than a hub id ("owner/name"): exists, or is clearly written as a path."""
    return os.path.isdir(source) or source.startswith((".", "/", "~")) or source.count("/") >= 2


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
    if looks_local(source):
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


def load_rows(task: str, lang: str, source: str, config: str, split: str, data_files=None):
    """The `datasets.Dataset` of one split; errors are one-line TaskDataErrors."""
    if data_files:
        return _load_file(task, lang, source, config, split, data_files)
    cache_key = None
    if looks_local(source):
        _check_local(task, lang, source, config, split)
        source = os.path.abspath(source)
        cache_key = _content_key(source)
    try:
        return _load(source, config, split, cache_key)
    except Exception as err:  # datasets raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TaskDataError(
            f"task {task}, language {lang}: cannot load {source} config {config} split {split}: {first}"
        ) from None


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


def _load_file(task, lang, source, config, split, data_files):
    """Flat files named by a pattern (keys lang, config, split), relative to a local `source`."""
    pattern = data_files.get(split) if isinstance(data_files, dict) else data_files
    if not pattern:
        raise TaskDataError(f"task {task}, language {lang}: data_files names no file for split {split!r}")
    path = os.path.join(source, pattern.format(lang=lang, config=config, split=split))
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
def _load(source: str, config: str, split: str, cache_key: str | None = None):
    """Cached per process: the few-shot pool (e.g. SQuAD) is shared by every language."""
    import datasets

    cache_dir = os.path.join(datasets.config.HF_DATASETS_CACHE, "maple-local", cache_key) if cache_key else None
    return datasets.load_dataset(source, name=config, split=split, cache_dir=cache_dir)
