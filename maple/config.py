"""Load and validate the workflow config; every error is one line naming the key and the allowed values.

Imported by the Snakefile at parse time: keep it free of heavy imports.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from maple import grid, resources
from maple.grid import OVERRIDE_SECTIONS
from maple.paths import is_local
from maple.train.arguments import check_training

SCHEMA = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A user-fixable problem in the config, described in one line."""


def load_yaml(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "malformed YAML"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(data).__name__}")
    return data


def check_yaml_file(path: str | os.PathLike) -> None:
    """Exit with one line if a config file is missing or not valid YAML (before Snakemake reads it)."""
    import sys

    try:
        load_yaml(path)
    except ConfigError as err:
        sys.exit(f"maple: config error: {err}")


def _key_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_message(err) -> str:
    where = _key_path(err.absolute_path)
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"{where}: {err.instance!r} is not allowed; allowed values: {allowed}"
    if err.validator == "additionalProperties":
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"{where}: unknown key(s) {', '.join(map(str, extra))}; allowed keys: {allowed}"
    if err.validator == "propertyNames":
        allowed = err.validator_value.get("enum")
        if allowed:
            bad = [k for k in err.instance if k not in allowed]
            return f"{where}: unknown name(s) {', '.join(bad)}; allowed: {', '.join(allowed)}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def load_schema() -> dict:
    """The schema, with the task names of the registry (the single source of truth)."""
    from maple.tasks import TASKS

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    schema["properties"]["evaluation"]["properties"]["tasks"]["propertyNames"] = {"enum": list(TASKS)}
    return schema


def fill_defaults(value, schema: dict, root: dict | None = None):
    """Fill the schema's `default`s into `value` in place (objects, their entries and list items):
    every later reader indexes the config instead of repeating a fallback."""
    import copy

    root = root or schema
    if "$ref" in schema:  # only local refs: #/definitions/<name>
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                fill_defaults(value[key], sub, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in schema.get("properties", {}):
                    fill_defaults(value[key], extra, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            fill_defaults(item, schema["items"], root)
    return value


def validate_schema(config: dict) -> None:
    import jsonschema  # light, but only needed here

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        # the deepest error names the offending key most precisely
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_schema_message(best))


def _check_names(config: dict) -> None:
    models, datasets = sorted(config["models"]), sorted(config["datasets"])
    for i, block in enumerate(config["grid"]):
        for m in block["models"]:
            if m not in models:
                raise ConfigError(f"grid[{i}].models: unknown model {m!r}; defined models: {', '.join(models)}")
        for d in block["datasets"]:
            if d not in datasets:
                raise ConfigError(
                    f"grid[{i}].datasets: unknown dataset {d!r}; defined datasets: {', '.join(datasets)}"
                )
    judge = config["evaluation"]["judge"]
    if judge.get("model") and judge["model"] not in models:
        raise ConfigError(
            f"evaluation.judge.model: unknown model {judge['model']!r}; defined models: {', '.join(models)}"
        )
    from maple.tasks import judged_task

    judged = judged_task(config["evaluation"]["tasks"])
    if judged and not (judge.get("model") or judge["api"]):
        raise ConfigError(f"evaluation.judge: {judged} needs a judge; set model (a name from models) or api")
    if judge.get("annotator"):
        _check_annotator(judge["annotator"], served=not judge["api"])


def _check_annotator(annotator: str, served: bool) -> None:
    """The annotator names one of the installed alpaca_eval's configs; a served judge's uses the OpenAI
    client. Read from the package's files: importing alpaca_eval at every parse would be slow."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None:  # the judge job says so with the package's extra; submit hosts need not have it
        return
    root = Path(next(iter(spec.submodule_search_locations))) / "evaluators_configs"
    path = Path(annotator) if Path(annotator).exists() else root / annotator
    file = path / "configs.yaml" if path.is_dir() else path
    if not file.is_file():
        names = sorted(p.name for p in root.iterdir() if (p / "configs.yaml").is_file())
        raise ConfigError(f"evaluation.judge.annotator: {annotator!r} is not an alpaca_eval annotator config; "
                          f"installed: {', '.join(names)}")
    if served:
        configs = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        fns = sorted({str(c.get("fn_completions")) for c in configs.values() if isinstance(c, dict)})
        if fns != ["openai_completions"]:
            raise ConfigError(f"evaluation.judge.annotator: {annotator!r} calls {', '.join(fns)}; a judge served "
                              "locally (judge.model without api) needs an openai_completions config, e.g. "
                              "weighted_alpaca_eval_vllm_llama3_70b")


def _check_task_languages(config: dict) -> None:
    """Each task's languages are those its registry spec declares (the same check as at scoring)."""
    from maple.metrics.errors import ScoringInputError
    from maple.metrics.languages import check

    for task, task_cfg in config["evaluation"]["tasks"].items():
        for i, lang in enumerate(task_cfg["languages"]):
            for protocol in config["evaluation"]["protocols"]:
                try:
                    check(task, lang, protocol)
                except ScoringInputError as err:
                    raise ConfigError(f"evaluation.tasks.{task}.languages[{i}]: {err}") from None


def _check_overrides(config: dict) -> None:
    training = config["training"]
    allowed = sorted(k for k in training if k not in OVERRIDE_SECTIONS)
    cells = {c.id for c in grid.training_cells(config)}
    for section in OVERRIDE_SECTIONS:
        for name, override in (training.get(section) or {}).items():
            if section == "per_dataset" and name not in config["datasets"]:
                raise ConfigError(
                    f"training.per_dataset: unknown dataset {name!r}; defined: {', '.join(sorted(config['datasets']))}"
                )
            if section == "per_cell" and name not in cells:
                raise ConfigError(
                    f"training.per_cell: {name!r} is not a cell of the grid; cells look like "
                    f"model/dataset/r8-b16, e.g. {sorted(cells)[0]}"
                )
            for key in override or {}:
                if key not in allowed:
                    raise ConfigError(f"training.{section}.{name}: unknown key {key!r}; allowed keys: {', '.join(allowed)}")


def _check_local_paths(config: dict, root: Path) -> None:
    for name, ds in config["datasets"].items():
        path = ds["source"]["path"]
        if is_local(path) and not (root / path).exists():
            raise ConfigError(f"datasets.{name}.source.path: local directory {path} does not exist")
    for task, spec in config["evaluation"]["tasks"].items():
        path = spec["source"]
        if is_local(path) and not (root / path).exists():
            raise ConfigError(f"evaluation.tasks.{task}.source: local directory {path} does not exist")
    for name, model in config["models"].items():
        path = model["path"]
        if "build" not in model and is_local(path) and not (root / path).exists():
            raise ConfigError(f"models.{name}.path: local directory {path} does not exist (and no build: given)")


def validate(config: dict, root: str | os.PathLike = ".") -> dict:
    """Validate a config dict and fill the schema's defaults into it (in place); returns it.
    Raises ConfigError (one line)."""
    validate_schema(config)
    fill_defaults(config, load_schema())
    _check_names(config)
    _check_task_languages(config)
    try:
        check_training(config["training"])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    _check_overrides(config)
    try:
        resources.check(config)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    _check_local_paths(config, Path(root))
    return config


SECRET_WORDS = ("token", "secret", "key", "password")


def load(path: str | os.PathLike, root: str | os.PathLike = ".") -> dict:
    """A config file, validated and with the schema's defaults filled in (as the Snakefile sees it)."""
    return validate(load_yaml(path), root)


def public_view(config: dict) -> dict:
    """The config without anything that looks like a secret (keys naming a token, secret, key or
    password, at any depth): the one redaction of records and reports."""
    if isinstance(config, dict):
        return {
            k: public_view(v)
            for k, v in config.items()
            if not any(s in str(k).lower() for s in SECRET_WORDS)
        }
    if isinstance(config, list):
        return [public_view(v) for v in config]
    return config
