"""Property test over the schema: every invalid config generated from it is refused by the check the
Snakefile runs before any job (maple.config.validate), as one ConfigError line naming the key.

Mutation sites are read from config/schema.yaml walked alongside config/paper.yaml (needs no local
data): wrong types, values outside an enum or range, unknown keys at every closed depth, missing
required keys, and names that refer to nothing. Any other exception (KeyError, TypeError, ...) is a
failure: it is what a job would have met."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maple import config as maple_config
from maple import grid

ROOT = Path(__file__).resolve().parent.parent
# through JSON: YAML anchors (*multialpaca_langs) would make two keys one list, mutated together
BASE = json.loads(json.dumps(maple_config.load_yaml(ROOT / "config" / "paper.yaml")))
SCHEMA = maple_config.load_schema()
# one value of each JSON type; a mutation picks one the schema does not allow
SAMPLES = {"null": None, "boolean": True, "integer": 7, "number": 0.5, "string": "x", "array": [1], "object": {"k": 1}}


def _resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _closed(schema: dict) -> bool:
    return schema.get("additionalProperties") is False or "enum" in (schema.get("propertyNames") or {})


def _children(value: dict, schema: dict):
    """(key, value, subschema) of a mapping's entries the schema describes (of entries that share a
    schema, as models or tasks by name, the first: the others are the same site)."""
    shared = False
    for key, sub in value.items():
        if key in schema.get("properties", {}):
            yield key, sub, _resolve(schema["properties"][key])
        elif not shared and isinstance(schema.get("additionalProperties"), dict):
            shared = True
            yield key, sub, _resolve(schema["additionalProperties"])
        elif not shared and schema.get("patternProperties"):
            shared = True
            yield key, sub, _resolve(next(iter(schema["patternProperties"].values())))


def sites(value=BASE, schema=None, path=()):
    """(path, subschema, value) of every value of the base config the schema constrains."""
    schema = _resolve(SCHEMA if schema is None else schema)
    yield path, schema, value
    if isinstance(value, dict):
        for key, sub, sub_schema in _children(value, schema):
            yield from sites(sub, sub_schema, (*path, key))
    elif isinstance(value, list) and value and isinstance(schema.get("items"), dict):
        yield from sites(value[0], schema["items"], (*path, 0))  # items share one schema


SITES = list(sites())


def wrong_values(schema: dict, value):
    """Values the schema refuses at this site (none where it allows anything)."""
    types = schema.get("type")
    if types:
        allowed = {types} if isinstance(types, str) else set(types)
        if "number" in allowed:
            allowed.add("integer")
        yield from (v for t, v in SAMPLES.items() if t not in allowed)
    if "enum" in schema:
        yield "not-an-option"
    for bound, step in (("minimum", -1), ("exclusiveMinimum", 0), ("maximum", 1), ("exclusiveMaximum", 0)):
        if bound in schema and isinstance(value, (int, float)) and not isinstance(value, bool):
            yield schema[bound] + step
    if schema.get("minItems") and isinstance(value, list):
        yield []


def put(config: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(config)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def get(config: dict, path: tuple):
    for part in path:
        config = config[part]
    return config


def refused(config: dict) -> str:
    """The one line validate() refuses `config` with; anything else raised fails the test."""
    with pytest.raises(maple_config.ConfigError) as err:
        maple_config.validate(config, ROOT)
    message = str(err.value)
    assert message and "\n" not in message
    return message


def where(path: tuple) -> str:
    return maple_config._key_path(path)


WRONG = [(path, v) for path, schema, value in SITES if path for v in wrong_values(schema, value)]
CLOSED = [(path, schema) for path, schema, value in SITES if isinstance(value, dict) and _closed(schema)]
REQUIRED = [(path, key) for path, schema, value in SITES if isinstance(value, dict) for key in schema.get("required", [])]


def test_the_base_config_is_valid_and_every_depth_is_mutated():
    maple_config.validate(copy.deepcopy(BASE), ROOT)
    assert max(len(p) for p, _ in WRONG) >= 5  # e.g. evaluation.tasks.xlsum.scoring.stem
    assert {p for p, _ in CLOSED} >= {(), ("evaluation",), ("report",), ("resources",), ("evaluation", "judge")}


@pytest.mark.parametrize(("path", "value"), WRONG, ids=[f"{where(p)}={v!r}" for p, v in WRONG])
def test_every_wrong_value_is_refused_naming_its_key(path, value):
    message = refused(put(BASE, path, value))
    # the key itself, or its mapping for a bound it breaks (e.g. `grid[0]` when a list is emptied)
    assert message.startswith((where(path), where(path[:-1]))), message


# a wrong training value is as wrong in a per-dataset or per-cell override
OVERRIDE_WRONG = [(path[1:], v) for path, v in WRONG
                  if path[:1] == ("training",) and len(path) > 1 and path[1] not in ("per_dataset", "per_cell")]


@pytest.mark.parametrize("section", ["per_dataset", "per_cell"])
@pytest.mark.parametrize(("path", "value"), OVERRIDE_WRONG, ids=[f"{where(p)}={v!r}" for p, v in OVERRIDE_WRONG])
def test_every_wrong_training_value_in_an_override_is_refused(section, path, value):
    name = "alpaca" if section == "per_dataset" else grid.training_cells(BASE)[0].id
    override = put({"training": copy.deepcopy(BASE["training"])}, ("training", *path), value)["training"]
    override = {path[0]: override[path[0]]}
    message = refused(put(BASE, ("training", section), {name: override}))
    assert message.startswith(f"training.{section}.{name}"), message


@pytest.mark.parametrize(("path", "schema"), CLOSED, ids=[where(p) for p, _ in CLOSED])
def test_an_unknown_key_at_every_closed_depth_is_refused(path, schema):
    message = refused(put(BASE, (*path, "zz_typo"), {}) if path else {**copy.deepcopy(BASE), "zz_typo": {}})
    assert "zz_typo" in message and message.startswith(where(path)), message


@pytest.mark.parametrize(("path", "key"), REQUIRED, ids=[f"{where(p)}-{k}" for p, k in REQUIRED])
def test_a_missing_required_key_is_refused(path, key):
    config = copy.deepcopy(BASE)
    del get(config, path)[key]
    message = refused(config)
    assert message.startswith(where(path)) and key in message, message


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)


def _dangling(config: dict, kind: str, name: str) -> dict:
    """A reference to something the config does not define."""
    name = f"zz-{name}"
    if kind == "grid.models":
        config["grid"][0]["models"].append(name)
    elif kind == "grid.datasets":
        config["grid"][-1]["datasets"].append(name)
    elif kind == "judge.model":
        config["evaluation"]["judge"]["model"] = name
    elif kind == "per_dataset":
        config["training"]["per_dataset"] = {name: {"learning_rate": 1e-4}}
    elif kind == "per_cell":
        config["training"]["per_cell"] = {f"{name}/alpaca/r8-b16": {"learning_rate": 1e-4}}
    elif kind == "task":
        config["evaluation"]["tasks"][name] = {"source": "x/y", "languages": ["en"]}
    elif kind == "task.language":
        config["evaluation"]["tasks"]["xnli"]["languages"].append(name)
    elif kind == "resources":
        config["resources"][name] = {"threads": 1}
    elif kind == "belebele_groups":
        config["report"]["belebele_groups"]["group1"].append(name)
    elif kind == "training.key":
        config["training"][name.replace("-", "_")] = 1
    elif kind == "template":
        config["prompt"]["template"] += "{" + name.replace("-", "_") + "}"
    elif kind == "task.sources":
        config["evaluation"]["tasks"]["xquad"]["sources"] = {name: "a/b"}
    elif kind == "data_files.split":
        config["evaluation"]["tasks"]["xnli"]["data_files"] = {name: "{lang}.jsonl"}
    elif kind == "data_files":
        config["datasets"]["multialpaca"]["source"]["data_files"] = "{" + name.replace("-", "_") + "}.jsonl"
    return config


DANGLING = ["grid.models", "grid.datasets", "judge.model", "per_dataset", "per_cell", "task", "task.language",
            "resources", "belebele_groups", "training.key", "template", "data_files", "task.sources",
            "data_files.split"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(DANGLING), name=names)
def test_a_dangling_reference_is_refused(kind, name):
    message = refused(_dangling(copy.deepcopy(BASE), kind, name))
    assert name.replace("-", "_") in message or name in message, message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=st.sampled_from([s for s in SITES if s[0]]), value=st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
))
def test_any_value_anywhere_is_accepted_or_refused_in_one_line(site, value):
    """Whatever is put anywhere, validate() accepts it or refuses it as one ConfigError line: never a
    KeyError or TypeError that a job would meet later."""
    config = put(BASE, site[0], value)
    try:
        maple_config.validate(config, ROOT)
    except maple_config.ConfigError as err:
        assert str(err) and "\n" not in str(err)
    else:  # accepted: the grid and every cell's training settings can be read
        for cell in grid.training_cells(config):
            grid.training_config(config, cell)


@pytest.mark.parametrize("path", [("training", "speed"), ("datasets",), ("evaluation", "tasks")])
@pytest.mark.parametrize("key", ["\n", "a b", ""])
def test_an_unknown_key_with_a_newline_or_space_is_named_quoted_on_one_line(path, key):
    """Hypothesis found it: an unknown key "\\n" broke the message over two lines. Such a key is quoted."""
    message = refused(put(BASE, path, {key: None}))
    assert "\n" not in message and repr(key) in message, message
