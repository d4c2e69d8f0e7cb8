"""AlpacaEval judging: both orders, a constrained (a)/(b) choice, preferences scored as win rates."""

import importlib.util
import json
from pathlib import Path

import pytest
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


VLLM = importlib.util.find_spec("vllm") is not None
ALPACA_EVAL = importlib.util.find_spec("alpaca_eval") is not None


@pytest.mark.skipif(not ALPACA_EVAL, reason="alpaca_eval not installed")
def test_weighted_preference_is_alpaca_evals_logprob_parser():
    """maple's 1 + P(second) over the two labels against alpaca_eval's own parser (the weighted
    configs' `logprob_parser`, numerator "m" = the first output), a label missing counting as 0."""
    import math

    from alpaca_eval.completion_parsers import logprob_parser
    from maple.judge import weighted_preference

    cases = [(-0.1, -2.3), (-5.0, -0.01), (-0.7, -0.7), (-30.0, -1e-6), (-1.0, -math.inf), (-math.inf, -2.0)]
    for lm, lM in cases:
        top = [{"token": t, "logprob": v} for t, v in (("m", lm), ("M", lM)) if v != -math.inf]
        ae = logprob_parser({"logprobs": {"content": [{"top_logprobs": top}]}},
                            numerator_token="m", denominator_tokens=["m", "M"], is_binarize=False)[0]
        assert abs(weighted_preference([lm, lM]) - ae) < 1e-12, (lm, lM)
    assert weighted_preference([-math.inf, -math.inf]) is None
    both_missing = logprob_parser({"logprobs": {"content": [{"top_logprobs": [{"token": "x", "logprob": -1.0}]}]}},
                                  numerator_token="m", denominator_tokens=["m", "M"], is_binarize=False)[0]
    assert math.isnan(both_missing)


# vLLM's CPU attention needs a head size of 32 or more: 256 / 4 heads
SERVED_BUILD = {"architecture": "llama", "hidden_size": 256, "layers": 2, "heads": 4, "kv_heads": 2, "vocab_size": 600}


@pytest.fixture(scope="module")
def served_judge(tmp_path_factory, tiny_corpus):
    from maple.data.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("judge") / "model"
    build_tiny_model(str(out), SERVED_BUILD, [str(tiny_corpus)], seed=0)
    return str(out)


@pytest.mark.vllm
@pytest.mark.skipif(not (VLLM and ALPACA_EVAL), reason="needs vLLM and alpaca_eval installed")
def test_served_judge_through_alpaca_eval(tmp_path, served_judge, monkeypatch):
    """alpaca_eval's own PairwiseAnnotator (weighted_alpaca_eval_vllm_llama3_70b: its prompt, the chat
    endpoint, logprob_parser) against `vllm serve` of the tiny judge on the loopback, no key. The
    preference maple records is alpaca_eval's, and equals maple's weighted_preference of the same
    label log-probabilities the server returned."""
    from alpaca_eval.completion_parsers import logprob_parser
    from maple.judge import letter_logprobs, weighted_preference

    for var in ("OPENAI_API_KEY", "OPENAI_API_KEYS", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    out = tmp_path / "judgements.jsonl"
    settings = {"prompt": PROMPT, "seed": 0, "device": "cpu", "trust_remote_code": False,
                "evaluation": {"backend": "vllm", "max_model_len": 2048}}
    # asking for the tiny judge's whole vocabulary keeps both labels in every answer
    vocab = json.loads((Path(served_judge) / "maple_build.json").read_text())["vocab_size"]
    judge = {"model": "tiny", "annotator": "weighted_alpaca_eval_vllm_llama3_70b", "top_logprobs": vocab}
    summary = judge_cells([(_records(), str(out))], judge, {"path": served_judge}, settings)
    rows = read_jsonl(out)
    assert len(rows) == 6 and summary["unparsed"] == 0
    assert all(r["judge"].startswith("alpaca_eval:weighted_alpaca_eval_vllm_llama3_70b@") for r in rows)
    for r in rows:
        lp = r["label_logprobs"]
        assert set(lp) == {"m", "M"} and all(v is not None and v < 0 for v in lp.values())
        # maple's local-judge formula on the server's own log-probabilities
        assert abs(r["preference"] - weighted_preference([lp["m"], lp["M"]])) < 1e-9
        # alpaca_eval's parser on the same numbers, as its completion carries them
        completion = {"logprobs": {"content": [{"top_logprobs": [{"token": t, "logprob": v} for t, v in lp.items()]}]}}
        ae = logprob_parser(completion, numerator_token="m", denominator_tokens=["m", "M"], is_binarize=False)[0]
        assert abs(r["preference"] - ae) < 1e-9
    assert len({round(r["preference"], 9) for r in rows}) > 1  # probabilities, not one constant
    assert letter_logprobs({"logprobs": {"content": [{"top_logprobs": []}]}}) == {"m": None, "M": None}
    result = score_records("alpaca_eval", "en", "reference", rows)[0]
    assert 0.0 <= result["win_rate"] <= 100.0 and result["n"] == 3
