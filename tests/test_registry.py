"""The task registry is the single source of truth: one spec (plus its prompt and extraction
functions) and its data make a task, and the config takes its names and languages from there."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from maple import config as maple_config
from maple.metrics import score_records
from maple.tasks import TASKS, build_requests, extract_answer
from maple.tasks.spec import MULTIPLE_CHOICE, DataRef, ProtocolSpec, TaskSpec

ROOT = Path(__file__).resolve().parent.parent


def _yes_no(output: str, request: dict) -> int:
    word = (output.strip().split() or [""])[0].lower().strip(".")
    return {"yes": 0, "no": 1}.get(word, -1)


TOY = TaskSpec(
    name="toy_yesno",
    label="Toy yes/no",
    kind=MULTIPLE_CHOICE,
    data=DataRef("example/toy", "{lang}", "toy"),
    query=lambda r: f"Question: {r['question']}\nAnswer:",
    target=lambda r: ["yes", "no"][r["label"]],
    gold=lambda r: int(r["label"]),
    choices=lambda r: ["yes", "no"],
    label_field="label",
    protocols={
        "megaverse": ProtocolSpec("test", "train", 2, _yes_no, ("accuracy",), "label_match"),
        "reference": ProtocolSpec("test", "train", 0, _yes_no, ("accuracy",), "label_match"),
    },
    max_new_tokens=3,
    stop=("\n",),
    languages=("en", "fr"),
    label_words=(("yes",), ("no",)),
)


@pytest.fixture
def toy_task(tmp_path, monkeypatch):
    monkeypatch.setitem(TASKS, TOY.name, TOY)
    for split, n in (("train", 4), ("test", 6)):
        rows = [{"question": f"is {i} even?", "label": i % 2} for i in range(n)]
        (tmp_path / f"en-{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"source": str(tmp_path), "languages": ["en"], "data_files": "{lang}-{split}.jsonl"}


def test_a_registered_task_builds_extracts_and_scores(toy_task):
    requests = build_requests(TOY.name, "en", "megaverse", toy_task, seed=1)
    assert len(requests) == 6 and requests[0]["prompt"].count("Question:") == 3  # two shots + the query
    outputs = ["yes", "no", "Yes.", "maybe", "no", "no"]
    records = [{**r, "output": o} for r, o in zip(requests, outputs)]
    assert [extract_answer(TOY.name, "megaverse", o, r) for r, o in zip(requests, outputs)] == [0, 1, 0, -1, 1, 1]
    summary, per_example = score_records(TOY.name, "en", "megaverse", records)
    gold = [r["gold"] for r in requests]
    expected = sum(p == g for p, g in zip([0, 1, 0, -1, 1, 1], gold)) / 6
    assert summary == {"n": 6, "accuracy": expected} and len(per_example) == 6
    # a text prediction meets an index gold through the spec's label words
    assert score_records(TOY.name, "en", "reference", [{"prediction": "no", "gold": 1}])[0]["accuracy"] == 1.0


def test_a_registered_task_is_a_config_task(toy_task):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["evaluation"]["tasks"] = {TOY.name: toy_task}
    maple_config.validate(config, ROOT)
    from maple.report.common import TASK_LABELS  # noqa: F401  (labels read the registry at import)

    assert TOY.headline_metric == "accuracy" and TOY.display_label == "Toy yes/no"


def _config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["evaluation"]["tasks"]["xnli"]["languages"].append("xx"),
         "evaluation.tasks.xnli.languages[3]: unknown language 'xx' for xnli"),
        (lambda c: c["evaluation"]["tasks"].update(nope={"source": "x", "languages": ["en"]}),
         "evaluation.tasks: 'nope' is not allowed; allowed values: xnli"),
        (lambda c: c["training"].update(learning_rte=1e-4), "training: unknown key 'learning_rte'"),
        (lambda c: c["training"].update(bf16=True), "training.bf16: set by maple from device"),
        (lambda c: c["training"]["per_cell"].update({"tiny-llama/alpaca/r8-b16": {"seed": 3}}),
         "training.per_cell.tiny-llama/alpaca/r8-b16.seed: set by maple"),
    ],
)
def test_config_errors_are_one_line_before_any_job(edit, message):
    config = _config()
    edit(config)
    with pytest.raises(maple_config.ConfigError) as err:
        maple_config.validate(config, ROOT)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_defaults_are_filled_once():
    config = _config()
    del config["evaluation"]["backend"], config["merge"], config["device"]
    maple_config.validate(config, ROOT)
    assert config["evaluation"]["backend"] == "vllm" and config["merge"] == {"keep": True}
    assert config["device"] == "cpu" and config["training"]["report_to"] == "none"
    assert config["evaluation"]["judge"]["api"] is None and config["datasets"]["alpaca"]["source"]["split"] == "train"


def test_training_keys_are_transformers_fields():
    from transformers import TrainingArguments
    import dataclasses

    from maple.train.arguments import trainer_argument_names

    assert trainer_argument_names() == {f.name for f in dataclasses.fields(TrainingArguments)}
    config = _config()
    config["training"]["report_to"] = "tensorboard"  # a switchable logger
    maple_config.validate(copy.deepcopy(config), ROOT)


def test_scoring_dispatches_through_the_declared_scorer(toy_task, monkeypatch):
    import dataclasses

    from maple.metrics import ScoringInputError

    qa = ProtocolSpec("test", None, 0, lambda out, req: out.strip(), ("f1", "exact_match"), "squad_v1")
    spec = dataclasses.replace(TOY, kind="extractive_qa", protocols={"reference": qa, "megaverse": qa})
    monkeypatch.setitem(TASKS, TOY.name, spec)
    summary, _ = score_records(TOY.name, "en", "reference", [{"prediction": "the Blue sky", "references": ["blue sky"]}])
    assert summary["exact_match"] == 1.0  # SQuAD v1.1 drops articles and case
    broken = dataclasses.replace(qa, scorer="nope")
    monkeypatch.setitem(TASKS, TOY.name, dataclasses.replace(spec, protocols={"reference": broken, "megaverse": broken}))
    with pytest.raises(ScoringInputError, match="unknown scorer 'nope'"):
        score_records(TOY.name, "en", "reference", [{"prediction": "x", "references": ["x"]}])


def test_the_spec_fields_say_what_runs(monkeypatch):
    """Behaviour comes from spec fields, not task names: the `scorer` picks MEGAVERSE's containment
    rule, `language_pattern` widens the languages, `kind` makes a task language-free or judged."""
    import dataclasses

    from maple.metrics.errors import ScoringInputError
    from maple.metrics.languages import check
    from maple.score import default_lang
    from maple.tasks import judged_task

    text_gold = {"prediction": "it is yes", "gold": "yes"}
    for scorer, accuracy in (("label_containment", 1.0), ("label_match", 0.0)):
        protocols = {p: dataclasses.replace(v, scorer=scorer, extract=lambda o, r: o) for p, v in TOY.protocols.items()}
        monkeypatch.setitem(TASKS, TOY.name, dataclasses.replace(TOY, protocols=protocols))
        summary, _ = score_records(TOY.name, "en", "megaverse", [{"output": "it is yes", **text_gold}])
        assert summary["accuracy"] == accuracy, scorer
    monkeypatch.setitem(TASKS, TOY.name, dataclasses.replace(TOY, language_pattern=r"[a-z]{2}-[A-Z]{2}"))
    check(TOY.name, "de-CH", "reference")  # by the pattern
    with pytest.raises(ScoringInputError, match="expected a code matching"):
        check(TOY.name, "german", "reference")
    assert default_lang(TOY.name) == "en"  # multiple choice reads no language
    assert judged_task(["xnli", TOY.name, "alpaca_eval"]) == "alpaca_eval" and judged_task([TOY.name]) is None
    assert [name for name, spec in TASKS.items() if spec.language_pattern and name != TOY.name] == ["belebele"]
    # a text gold naming a label ("(no)") compares as that label's index only where the spec says so
    index_pred = {"output": "no", "prediction": 1, "gold": "(no)"}
    for flag, accuracy in ((True, 1.0), (False, 0.0)):
        monkeypatch.setitem(TASKS, TOY.name, dataclasses.replace(TOY, gold_is_label_word=flag))
        assert score_records(TOY.name, "en", "reference", [index_pred])[0]["accuracy"] == accuracy, flag
    assert [name for name, spec in TASKS.items() if spec.gold_is_label_word and name != TOY.name] == ["belebele"]
    assert {name for name, spec in TASKS.items() for p in spec.protocols.values()
            if p.scorer == "label_containment"} == {"xnli", "xcopa"}
