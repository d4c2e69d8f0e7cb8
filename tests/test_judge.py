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
    settings = {"prompt": PROMPT, "seed": 0, "device": "cpu", "evaluation": {"backend": "hf"}}
    summary = judge_cells([(_records(), str(out))], {"backend": "hf"}, {"path": tiny_model}, settings)
    rows = read_jsonl(out)
    assert len(rows) == 6 and summary["unparsed"] == 0
    assert {r["preference"] for r in rows} <= {1, 2}
    result, per_example = score_records("alpaca_eval", "en", "reference", rows)
    assert 0.0 <= result["win_rate"] <= 100.0 and result["n"] == 3 and len(per_example) == 3
