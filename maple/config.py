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


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently:
    two `training:` blocks would drop the first block's keys without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may repeat and be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: PyYAML's own error follows
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given at line {first.line + 1})", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def _where(path, mark) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}"


def load_yaml(path: str | os.PathLike) -> dict:
    """A config file as a dict; any problem (missing, empty, malformed, duplicate key, not a mapping)
    is a ConfigError naming the file, line and column."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or "malformed YAML"
        if mark is None:
            raise ConfigError(f"config file {path} is not valid YAML: {problem}") from None
        lines = text.splitlines()
        if mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            problem += " (indent with spaces, not tabs)"
        raise ConfigError(f"config file {_where(path, mark)}: not valid YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"config file {path}, line 1, column 1: the file is empty; it must hold a mapping of keys")
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {_where(path, node.start_mark)}: must hold a mapping of keys (seed:, models:, ...), "
            f"not a {type(data).__name__}"
        )
    return data


def check_yaml_file(path: str | os.PathLike) -> None:
    """Exit with one line if a config file is missing, empty or not valid YAML: the one check of the
    embedded config.yaml and of every --configfile."""
    import sys

    try:
        load_yaml(path)
    except ConfigError as err:
        sys.exit(f"maple: config error: {err}")


def configfiles_in(argv) -> list[str]:
    """The files of Snakemake's `--configfile`/`--configfiles` (nargs='+': up to the next option)."""
    files, taking = [], False
    for arg in argv:
        if arg.startswith("-"):
            taking = arg in ("--configfile", "--configfiles")
            if arg.startswith(("--configfile=", "--configfiles=")):
                files.append(arg.split("=", 1)[1])
                taking = False
        elif taking:
            files.append(arg)
    return files


def check_cli_configfiles(argv=None) -> None:
    """Check each --configfile of a `snakemake` command line. Run from the workflow profile
    (profiles/default/config.yaml), which Snakemake reads before it loads these files itself: its
    own loader reports neither file, line nor column, and a missing file as a traceback."""
    import sys

    for path in configfiles_in(sys.argv[1:] if argv is None else argv):
        check_yaml_file(path)


def _shown(key) -> str:
    """A key as the message names it: itself, or quoted where it holds a space, a control character or
    nothing, which would break or blur the one line."""
    text = str(key)
    return text if text and text.isprintable() and not any(c.isspace() for c in text) else repr(text)


def _key_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{_shown(part)}" if out else _shown(part))
    return out or "<top level>"


def _schema_message(err, prefix=()) -> str:
    where = _key_path([*prefix, *err.absolute_path])
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"{where}: {err.instance!r} is not allowed; allowed values: {allowed}"
    if err.validator == "additionalProperties":
        import re

        known = err.schema.get("properties", {})
        patterns = err.schema.get("patternProperties", {})
        extra = sorted(k for k in err.instance if k not in known and not any(re.search(p, k) for p in patterns))
        allowed = ", ".join([*sorted(known), *([err.schema["x-allowed-names"]] if patterns else [])])
        return f"{where}: unknown key(s) {', '.join(map(_shown, extra))}; allowed keys: {allowed}"
    if err.validator == "propertyNames":
        allowed = err.validator_value.get("enum")
        if allowed:
            bad = [k for k in err.instance if k not in allowed]
            return f"{where}: unknown name(s) {', '.join(map(_shown, bad))}; allowed: {', '.join(allowed)}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def load_schema() -> dict:
    """The schema, with the task names of the registry (the single source of truth)."""
    from maple.tasks import TASKS

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    schema["properties"]["evaluation"]["properties"]["tasks"]["propertyNames"] = {"enum": list(TASKS)}
    schema["properties"]["resources"]["propertyNames"] = {"enum": ["default", *resource_rules()]}
    return schema


def resource_rules() -> list[str]:
    """The `resources:` keys a config may use: the rules of maple.resources' table (a group rule reads
    its per-cell rule's key); any other name would be ignored without a word."""
    return sorted(resources.CONFIG_KEYS - {"default"})


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


def _raise_first(validator, value, prefix=()) -> None:
    import jsonschema

    errors = list(validator.iter_errors(value))
    if errors:
        # the deepest error names the offending key most precisely
        raise ConfigError(_schema_message(jsonschema.exceptions.best_match(errors), prefix))


def validate_schema(config: dict) -> None:
    import jsonschema  # light, but only needed here

    schema = load_schema()
    _raise_first(jsonschema.Draft202012Validator(schema), config)
    # overrides take the training keys' types and ranges (no defaults: an override sets what it names)
    keys = {k: v for k, v in schema["properties"]["training"]["properties"].items() if k not in OVERRIDE_SECTIONS}
    override = jsonschema.Draft202012Validator(
        {"type": "object", "properties": keys, "definitions": schema["definitions"]}
    )
    for section in OVERRIDE_SECTIONS:
        for name, value in ((config.get("training") or {}).get(section) or {}).items():
            _raise_first(override, value, ("training", section, name))


def _check_names(config: dict) -> None:
    models, datasets = sorted(config["models"]), sorted(config["datasets"])
    for name, ds in config["datasets"].items():
        _refuse_repeats(f"datasets.{name}.languages", ds["languages"])
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


def _check_task_groups(config: dict) -> None:
    """Each grouped task is a task of the registry, in one group only (a task not evaluated is left out
    of its group: dropping a task from evaluation.tasks needs no second edit)."""
    from maple.tasks import TASKS

    seen = {}
    for i, group in enumerate(config["evaluation"]["task_groups"]):
        _refuse_repeats(f"evaluation.task_groups[{i}]", group)
        for task in group:
            if task not in TASKS:
                raise ConfigError(f"evaluation.task_groups[{i}]: {task!r} is not a task; allowed values: "
                                  f"{', '.join(TASKS)}")
            if task in seen:
                raise ConfigError(f"evaluation.task_groups[{i}]: {task!r} is already in task_groups[{seen[task]}]; "
                                  "a task is generated by one job")
            seen[task] = i


def _refuse_repeats(where: str, values: list) -> None:
    """A list that stands for a set (its order means nothing) names each value once."""
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{where}: {', '.join(repeated)} listed more than once")


def _check_task_languages(config: dict) -> None:
    """Each task's languages are those its registry spec declares (the same check as at scoring)."""
    from maple.metrics.errors import ScoringInputError
    from maple.metrics.languages import check

    _refuse_repeats("evaluation.protocols", config["evaluation"]["protocols"])
    for task, task_cfg in config["evaluation"]["tasks"].items():
        _refuse_repeats(f"evaluation.tasks.{task}.languages", task_cfg["languages"])
        for i, lang in enumerate(task_cfg["languages"]):
            for protocol in config["evaluation"]["protocols"]:
                try:
                    check(task, lang, protocol)
                except ScoringInputError as err:
                    raise ConfigError(f"evaluation.tasks.{task}.languages[{i}]: {err}") from None


def _check_task_keys(config: dict) -> None:
    """Names inside a task's settings that refer to the task's data: `sources` keys (the task's other
    datasets) and `data_files` split keys (the splits it reads); a typo would be ignored."""
    from maple.tasks import get_task

    for task, task_cfg in config["evaluation"]["tasks"].items():
        spec = get_task(task)
        protocols = [spec.protocol(p) for p in config["evaluation"]["protocols"]]
        refs = {r.local_name for r in [*spec.lang_data.values(), *(p.shot_data for p in protocols)] if r}
        for key in task_cfg.get("sources") or {}:
            if key not in refs:
                raise ConfigError(
                    f"evaluation.tasks.{task}.sources: unknown dataset {key!r}; {task} reads "
                    f"{', '.join(sorted(refs)) or 'no other dataset'}"
                )
        files = task_cfg.get("data_files")
        if isinstance(files, dict):
            splits = set()
            for proto in protocols:
                for lang in task_cfg["languages"]:
                    eval_split, shot_split = proto.lang_splits.get(lang, (proto.eval_split, proto.shot_split))
                    splits |= {task_cfg.get("split") or eval_split, task_cfg.get("shot_split") or shot_split}
            splits.discard(None)
            for key in files:
                if key not in splits:
                    raise ConfigError(
                        f"evaluation.tasks.{task}.data_files: unknown split {key!r}; {task} reads {', '.join(sorted(splits))}"
                    )


def _check_task_sources(config: dict, root: Path) -> None:
    """Each task language against a local source's configs and splits (hub sources: the download job)."""
    from maple.tasks import get_task
    from maple.tasks.build import eval_location
    from maple.tasks.loading import _check_local
    from maple.tasks.spec import TaskDataError, effective_settings

    for task, task_cfg in config["evaluation"]["tasks"].items():
        spec = get_task(task)
        for i, lang in enumerate(task_cfg["languages"]):
            for protocol in config["evaluation"]["protocols"]:
                proto = spec.protocol(protocol)
                source, cfg_name, data_files, _ = eval_location(spec, proto, lang, task_cfg)
                if data_files or not is_local(source):
                    continue
                try:
                    _check_local(task, lang, str(root / source), cfg_name,
                                 effective_settings(spec, lang, protocol, task_cfg).eval_split)
                except TaskDataError as err:
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


def _fields(text: str, where: str) -> set[str]:
    """The {placeholders} of a str.format pattern (a stray brace is refused here, not in a job)."""
    import string

    try:
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:
        raise ConfigError(f"{where}: {text!r} is not a valid pattern ({err}); write a literal brace as {{{{ or }}}}") from None


def _check_pattern(text, where: str, allowed: tuple[str, ...]) -> set[str]:
    fields = _fields(text, where)
    unknown = sorted(fields - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)} in {text!r}; "
            f"allowed: {', '.join('{' + a + '}' for a in allowed)}"
        )
    return fields


def _check_patterns(config: dict) -> None:
    """Template fields against what the template is given; {placeholders} against what each source fills."""
    prompt = config["prompt"]
    fields = _check_pattern(prompt["template"], "prompt.template", ("instruction", "input_block"))
    if "instruction" not in fields:
        raise ConfigError(f"prompt.template: {prompt['template']!r} has no {{instruction}}; the instruction would be lost")
    _check_pattern(prompt["input_block"], "prompt.input_block", ("input",))
    if prompt["input_block"] and "input_block" not in fields:
        raise ConfigError(
            "prompt.template: no {input_block}, yet prompt.input_block is set; the examples' inputs would be lost"
        )
    for name, ds in config["datasets"].items():
        for key in ("config", "data_files"):
            if ds["source"].get(key):
                _check_pattern(ds["source"][key], f"datasets.{name}.source.{key}", ("lang",))
    for task, task_cfg in config["evaluation"]["tasks"].items():
        files = task_cfg.get("data_files")
        for split, pattern in (files.items() if isinstance(files, dict) else [(None, files)] if files else []):
            where = f"evaluation.tasks.{task}.data_files" + (f".{split}" if split else "")
            _check_pattern(pattern, where, ("lang", "config", "split"))


def _local_languages(source: dict, root: Path) -> tuple[list[str] | None, callable]:
    """What a local dataset directory offers per language: (its names, has(lang))."""
    import glob
    import re

    from maple.tasks.loading import local_configs

    base = root / source["path"]
    if source.get("data_files"):
        pattern = source["data_files"]
        regex = re.escape(pattern).replace(re.escape("{lang}"), "(.+)")
        found = sorted({m.group(1) for f in glob.glob(str(base / pattern.replace("{lang}", "*")), recursive=True)
                        if (m := re.fullmatch(regex, Path(f).relative_to(base).as_posix()))})
        return found, lambda lang: bool(glob.glob(str(base / pattern.format(lang=lang)), recursive=True))
    if source.get("config"):
        configs = local_configs(str(base))
        if configs is None:  # no configs block: a config is a sub-directory
            configs = {d.name: [] for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")}
        names = sorted(configs)
        return names, lambda lang: source["config"].format(lang=lang) in configs
    return None, lambda lang: True


def _check_dataset_languages(config: dict, root: Path) -> None:
    """Each dataset language is one its local source has (a config or a file); hub sources are
    checked by the download job (their listings are not read at parse time)."""
    for name, ds in config["datasets"].items():
        if not (is_local(ds["source"]["path"]) and (root / ds["source"]["path"]).is_dir()):
            continue
        found, has = _local_languages(ds["source"], root)
        for i, lang in enumerate(ds["languages"]):
            if not has(lang):
                key = "data_files" if ds["source"].get("data_files") else "config"
                raise ConfigError(
                    f"datasets.{name}.languages[{i}]: {lang!r} is not in {ds['source']['path']} "
                    f"(source.{key} {ds['source'][key]!r}); it has: {', '.join(found) or 'none'}"
                )


def _check_belebele_groups(config: dict) -> None:
    """Group members are Belebele language codes (a typo would leave a language out of its group
    silently): an ISO 639-1 code maple maps to FLORES, or a FLORES-200 code (xxx_Xxxx)."""
    import re

    from maple.report.languages import ISO1_TO_FLORES, to_iso
    from maple.tasks import get_task

    iso = set(ISO1_TO_FLORES) | {to_iso(code) for code in get_task("belebele").languages}
    for group, members in ((config.get("report") or {}).get("belebele_groups") or {}).items():
        for i, code in enumerate(members):
            if code not in iso and not re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", code):
                raise ConfigError(
                    f"report.belebele_groups.{group}[{i}]: {code!r} is neither a FLORES-200 code (deu_Latn) "
                    f"nor an ISO 639-1 code maple maps to one ({', '.join(sorted(iso))})"
                )


def _weight_modules(directory: Path, files=None) -> list[str] | None:
    """Module names of a local checkpoint, from its safetensors headers (no weights read)."""
    import json
    import struct

    files = files or sorted(directory.glob("*.safetensors"))
    if not files:
        return None
    names = set()
    for file in files:
        with open(file, "rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        names.update(k.rsplit(".", 1)[0] for k in header if k != "__metadata__")
    return sorted(names)


def _cached_hub_modules(model: dict, hf_home: str | None) -> list[str] | None:
    """Module names of a hub model already in the local HF cache (its safetensors index), else None."""
    import json

    from huggingface_hub import try_to_load_from_cache

    cache_dir = os.path.join(hf_home, "hub") if hf_home else None
    index = try_to_load_from_cache(model["path"], "model.safetensors.index.json", cache_dir=cache_dir,
                                   revision=model.get("revision"))
    if isinstance(index, str):
        with open(index, encoding="utf-8") as fh:
            return sorted({k.rsplit(".", 1)[0] for k in json.load(fh)["weight_map"]})
    single = try_to_load_from_cache(model["path"], "model.safetensors", cache_dir=cache_dir,
                                    revision=model.get("revision"))
    return _weight_modules(Path(single).parent, [Path(single)]) if isinstance(single, str) else None


def model_module_names(model: dict, root: Path, hf_home: str | None = None) -> list[str] | None:
    """The module names of a model where they are known without loading it: a local checkpoint's
    weights, a `build:` model's architecture, or a hub model's index in the local HF cache."""
    path = root / model["path"]
    if is_local(model["path"]) and path.is_dir():
        names = _weight_modules(path)
        if names is not None:
            return names
    elif not is_local(model["path"]):
        return _cached_hub_modules(model, hf_home)
    if "build" in model:
        from maple.data.tiny_model import module_names

        return module_names(model["build"])
    return None


def _targets_match(target: str, names: list[str], regex: bool) -> bool:
    """peft's rule (tuners_utils.check_target_module_exists): a string is a regex over the whole name;
    a list entry matches a module named exactly so or ending in '.' + entry."""
    import re

    if regex:
        return any(re.fullmatch(target, n) for n in names)
    return any(n == target or n.endswith("." + target) for n in names)


def _check_target_modules(config: dict, root: Path) -> None:
    """LoRA target_modules against the module names of each trained model, where known: peft refuses
    a list none of whose names matches, but drops a typo beside a correct name without a word."""
    checked = set()
    training = config["training"]
    for cell in grid.training_cells(config):
        targets = grid.training_config(config, cell).get("target_modules")
        if targets is None:  # the trainer reads it: refused here, not as a KeyError in a training job
            raise ConfigError(f"training.target_modules: missing for cell {cell.id}; allowed: 'all-linear', "
                              "a list of module names, or one regex over whole names")
        key = (cell.model, repr(targets))
        if targets == "all-linear" or key in checked:
            continue
        checked.add(key)
        names = model_module_names(config["models"][cell.model], root, config.get("hf_home"))
        if names is None:
            continue
        where = (
            f"training.per_cell.{cell.id}" if "target_modules" in training["per_cell"].get(cell.id, {})
            else f"training.per_dataset.{cell.dataset}" if "target_modules" in training["per_dataset"].get(cell.dataset, {})
            else "training"
        )
        for entry in [targets] if isinstance(targets, str) else targets:
            if not _targets_match(entry, names, regex=isinstance(targets, str)):
                leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
                raise ConfigError(
                    f"{where}.target_modules: {entry!r} matches no module of model {cell.model}; its modules: "
                    f"{', '.join(leaves)} (or all-linear)"
                )


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
    _check_task_keys(config)
    _check_task_groups(config)
    _check_task_sources(config, Path(root))
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
    _check_patterns(config)
    _check_dataset_languages(config, Path(root))
    _check_belebele_groups(config)
    _check_target_modules(config, Path(root))
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
