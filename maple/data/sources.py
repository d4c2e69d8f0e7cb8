"""Load a finetuning dataset from its hub id or a local directory in the hub layout, select its
languages and subsample it to the configured size with a seed."""

from __future__ import annotations

import os


PARQUET_EXPORT = "refs/convert/parquet"


class DataSourceError(ValueError):
    """A dataset that cannot be loaded as configured, described in one line."""


def _fill(pattern, lang):
    return pattern.format(lang=lang) if pattern else None


def load_language(source: dict, lang: str):
    """One language of a dataset via datasets.load_dataset, exactly as for a hub repo."""
    import datasets

    path = source["path"]
    kwargs = dict(split=source.get("split", "train"))
    name = _fill(source.get("config"), lang)
    data_files = _fill(source.get("data_files"), lang)
    if name:
        kwargs["name"] = name
    if data_files:
        kwargs["data_files"] = data_files
    if source.get("revision"):
        kwargs["revision"] = source["revision"]
    try:
        if source.get("revision") == PARQUET_EXPORT and name and not data_files:
            # the hub's parquet export of a script dataset (datasets >= 4 refuses the script)
            from maple.tasks.loading import local_snapshot

            snapshot = local_snapshot(path, PARQUET_EXPORT) if os.environ.get("HF_HUB_OFFLINE") == "1" else None
            base = snapshot or f"hf://datasets/{path}@{PARQUET_EXPORT.replace('/', '%2F')}"
            split = kwargs["split"]
            return datasets.load_dataset("parquet", data_files={split: f"{base}/{name}/{split}/*.parquet"}, split=split)
        return datasets.load_dataset(path, **kwargs)
    except Exception as err:  # datasets raises many types; the user needs one line
        offline = " (HF_HUB_OFFLINE=1: only local copies can be used)" if os.environ.get("HF_HUB_OFFLINE") else ""
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataSourceError(f"cannot load {path} language {lang!r} ({kwargs}){offline}: {detail}") from None


def per_language_quota(size: int, languages: list[str]) -> dict[str, int]:
    """Split `size` evenly over languages, the remainder going to the first ones."""
    base, extra = divmod(size, len(languages))
    return {lang: base + (1 if i < extra else 0) for i, lang in enumerate(languages)}


def select_examples(ds_cfg: dict, seed: int):
    """The selected, subsampled, language-tagged examples (instruction, input, output, language)."""
    import datasets

    parts = []
    quota = per_language_quota(ds_cfg["size"], ds_cfg["languages"])
    # datasets.<name>.columns: maple's column -> the dataset's (e.g. {instruction: prompt, output: response})
    columns = ds_cfg.get("columns") or {}
    for lang in ds_cfg["languages"]:
        part = load_language(ds_cfg["source"], lang)
        absent = sorted(theirs for theirs in columns.values() if theirs not in part.column_names)
        if absent:
            raise DataSourceError(
                f"datasets columns: {ds_cfg['source']['path']} ({lang}) has no column(s) {absent}; "
                f"it has {part.column_names}"
            )
        part = part.rename_columns({theirs: ours for ours, theirs in columns.items() if theirs != ours})
        missing = {"instruction", "output"} - set(part.column_names)
        if missing:
            raise DataSourceError(
                f"{ds_cfg['source']['path']} ({lang}) lacks column(s) {sorted(missing)}; "
                f"it has {part.column_names} (map yours with datasets.<name>.columns)"
            )
        if "input" not in part.column_names:
            part = part.add_column("input", [""] * len(part))
        part = part.shuffle(seed=seed).select(range(min(quota[lang], len(part))))
        part = part.select_columns(["instruction", "input", "output"])
        part = part.add_column("language", [lang] * len(part))
        parts.append(part)
    return datasets.concatenate_datasets(parts).shuffle(seed=seed)
