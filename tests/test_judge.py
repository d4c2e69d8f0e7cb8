"""AlpacaEval judging: both orders, a constrained (a)/(b) choice, preferences scored as win rates."""

from conftest import PROMPT
from maple.judge import judge_cells, judge_requests, parse_preference
from maple.io import read_jsonl
from maple.metrics import score_records


def test_parse_preference():
    assert parse_preference("a") == 1 and parse_preference("b) is better") == 2
    assert parse_preference("Output (b)") == 2 and parse_preference("") is None and parse_preference("maybe") is None


def _records():
    return [
        {"id": f"q{i}", "protocol": "reference", "lang": "en", "instruction": f"Say {i}", "prompt": "p",
         "gold": [f"reference answer {i}"], "output": f"model answer {i}"}
        for i in range(3)
    ]


def test_requests_show_both_orders():
    reqs = judge_requests(_records(), PROMPT)
    assert [r["order"] for r in reqs] == ["ab", "ba"] * 3
    first = reqs[0]["prompt"]
    assert first.index("model answer 0") < first.index("reference answer 0")
    assert reqs[1]["prompt"].index("reference answer 0") < reqs[1]["prompt"].index("model answer 0")
    assert all(r["allowed"] == ["a", "b"] for r in reqs)


def test_local_judge_always_chooses_and_scores(tmp_path, tiny_model):
    out = tmp_path / "judgements.jsonl"
    settings = {"prompt": PROMPT, "seed": 0, "device": "cpu", "trust_remote_code": False,
                "evaluation": {"backend": "hf", "max_model_len": 2048}}
    summary = judge_cells([(_records(), str(out))], {"model": "tiny"}, {"path": tiny_model}, settings)  # backend: settings
    rows = read_jsonl(out)
    assert len(rows) == 6 and summary["unparsed"] == 0
    # weighted by the judge's probabilities of the two letters; the argmax letter is kept beside it
    assert all(1 <= r["preference"] <= 2 and r["weighted"] for r in rows)
    assert {r["preference_argmax"] for r in rows} <= {1, 2}
    assert all((r["preference"] > 1.5) == (r["preference_argmax"] == 2) for r in rows if r["preference"] != 1.5)
    assert len({round(r["preference"], 6) for r in rows}) > 2  # really probabilities, not two values
    result, per_example = score_records("alpaca_eval", "en", "reference", rows)
    assert 0.0 <= result["win_rate"] <= 100.0 and result["n"] == 3 and len(per_example) == 3


class _FakeJudge:
    """P(a) per order: 0.8 when the model's output is shown first, 0.3 when second."""
    name = "fake"

    def generate(self, requests, adapter=None):
        return ["a" if r["order"] == "ab" else "b" for r in requests]

    def choice_logprobs(self, requests, adapter=None):
        import math

        p = {"ab": 0.8, "ba": 0.3}
        return [[math.log(p[r["order"]]), math.log(1 - p[r["order"]])] for r in requests]


def test_weighted_preference_is_not_the_argmax(tmp_path, monkeypatch):
    """alpaca_eval's weighted annotators: preference = 1 + P(b). Here the argmax says the model wins
    both orders (100%), the probabilities say 0.8 and 0.7 (75%)."""
    import maple.generate.run as run
    from maple.judge import weighted_preference

    assert weighted_preference([0.0, 0.0]) == 1.5 and abs(weighted_preference([-0.2231435513, -1.6094379124]) - 1.2) < 1e-9
    monkeypatch.setattr(run, "_backend", lambda *a, **k: _FakeJudge())
    monkeypatch.setattr(run, "request_budget", lambda *a, **k: None)  # no tokenizer behind the fake
    out = tmp_path / "j.jsonl"
    settings = {"prompt": PROMPT, "seed": 0, "device": "cpu", "trust_remote_code": False,
                "evaluation": {"backend": "hf", "max_model_len": 2048}}
    judge_cells([(_records(), str(out))], {"model": "judge"}, {"path": "judge"}, settings)
    rows = read_jsonl(out)
    assert [round(r["preference"], 6) for r in rows[:2]] == [1.2, 1.7]
    weighted = score_records("alpaca_eval", "en", "megaverse", rows)[0]["win_rate"]
    argmax = score_records("alpaca_eval", "en", "megaverse",
                           [{**r, "preference": r["preference_argmax"]} for r in rows])[0]["win_rate"]
    assert abs(weighted - 75.0) < 1e-9 and argmax == 100.0


def test_api_judge_uses_alpaca_eval_annotator_config(tmp_path, monkeypatch):
    """With api + annotator and a key in the environment, alpaca_eval's PairwiseAnnotator judges."""
    import sys
    import types

    calls = {}

    class PairwiseAnnotator:
        def __init__(self, annotators_config, **kwargs):
            calls["config"] = annotators_config

        def annotate_pairs(self, pairs):
            calls["pairs"] = pairs
            return [{**p, "preference": 1.25} for p in pairs]

    module = types.ModuleType("alpaca_eval.annotators")
    module.PairwiseAnnotator = PairwiseAnnotator
    monkeypatch.setitem(sys.modules, "alpaca_eval", types.ModuleType("alpaca_eval"))
    monkeypatch.setitem(sys.modules, "alpaca_eval.annotators", module)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    out = tmp_path / "j.jsonl"
    settings = {"prompt": PROMPT, "seed": 0, "device": "cpu", "trust_remote_code": False,
                "evaluation": {"backend": "hf", "max_model_len": 2048}}
    judge_cells([(_records(), str(out))], {"api": "gpt-4", "annotator": "alpaca_eval_gpt4"}, {}, settings)
    rows = read_jsonl(out)
    assert calls["config"] == "alpaca_eval_gpt4" and len(calls["pairs"]) == 6
    assert calls["pairs"][0]["output_1"] == "model answer 0" and calls["pairs"][1]["output_2"] == "model answer 0"
    assert all(r["preference"] == 1.25 and r["judge"] == "alpaca_eval:alpaca_eval_gpt4" for r in rows)
    assert "sk-test" not in out.read_text()
