"""Context budgeting (maple.tasks.budget): shots dropped one at a time, then the passage cut, then failed."""

import pytest
from conftest import SHARED_DATA

from maple.generate.run import generate_unique
from maple.plan.tokenizer import load_tokenizer, mistral_v1_model
from maple.score_cell import score_task
from maple.tasks import get_task
from maple.tasks.budget import Budget
from maple.tasks.build import requests_from_rows

MISTRAL = mistral_v1_model()
needs_mistral = pytest.mark.skipif(MISTRAL is None, reason="mistral-common (installed with vllm) is absent")
PROMPT = {"template": "### Instruction:\n{instruction}\n\n{input_block}### Response:\n", "input_block": "### Input:\n{input}\n\n"}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(MISTRAL)


def article(i: int, words: int) -> dict:
    return {"id": f"a{i}", "title": f"Title {i}", "summary": f"Summary {i}.", "text": " ".join(["word"] * words)}


def build(spec_name, rows, shots, budget, max_new_tokens=50):
    spec = get_task(spec_name)
    triples = [(r["id"], i, r) for i, r in enumerate(rows)]
    return requests_from_rows(spec, "english", "megaverse", triples, lambda _i: shots, max_new_tokens, PROMPT, budget)


@needs_mistral
def test_shots_dropped_one_at_a_time_then_passage_cut(tok):
    budget = Budget(tok, 1024)
    shots = [article(100 + k, 150) for k in range(4)]  # ~150 tokens each
    rows = [article(0, 10), article(1, 500), article(2, 800), article(3, 3000)]
    reqs = build("xlsum", rows, shots, budget)
    used = [r["shots_used"] for r in reqs]
    assert used[0] == 4 and 0 < used[1] < 4 and used[2] == 0 and used[3] == 0
    assert [r["tokens_truncated"] > 0 for r in reqs] == [False, False, False, True]
    assert not any(r["failed"] for r in reqs)
    for r in reqs:
        n = len(tok(r["prompt"])["input_ids"])
        assert n == r["prompt_tokens"] and n + r["max_new_tokens"] <= 1024
        assert r["shots"] == 4
        # the answer cue and the title survive truncation
        assert r["prompt"].rstrip().endswith("### Response:") and "Write a summary of the text above" in r["prompt"]
    # the largest number of shots that fits: one more shot does not
    one_more = build("xlsum", [rows[1]], shots[: used[1] + 1], Budget(tok, 10**6))[0]
    assert one_more["prompt_tokens"] + 50 > 1024
    # the cut is tight: a few tokens of room at most
    assert 1024 - 50 - reqs[3]["prompt_tokens"] < 8


@needs_mistral
def test_unfittable_request_fails_and_scores_zero(tok):
    budget = Budget(tok, 64)  # the template and instruction alone exceed 64 - 50 tokens
    reqs = build("xlsum", [article(0, 200)], [], budget)
    assert reqs[0]["failed"] and reqs[0]["shots_used"] == 0

    class Echo:
        def generate(self, batch, adapter=None):
            assert not any(r["failed"] for r in batch)
            return [r["gold"][0] for r in batch]

    ok = build("xlsum", [article(1, 5)], [], Budget(tok, 4096))
    outputs = generate_unique(Echo(), reqs + ok)
    assert outputs[0] == "" and outputs[1] == "Summary 1."
    records = [{**r, "output": o} for r, o in zip(reqs + ok, outputs)]
    rows, _ = score_task("tiny-llama/none/base", "xlsum", [records[0]], "vllm/base")
    metrics = {r["metric"]: r["value"] for r in rows}
    assert metrics["rougeL"] == 0
    assert metrics["budget_failed"] == 1 and metrics["budget_requests"] == 1


@needs_mistral
def test_question_and_options_never_cut(tok):
    budget = Budget(tok, 512)
    row = {
        "flores_passage": "lorem ipsum " * 800, "question": "Which one is right?", "mc_answer1": "first",
        "mc_answer2": "second", "mc_answer3": "third", "mc_answer4": "fourth", "correct_answer_num": "2",
    }
    spec = get_task("belebele")
    req = requests_from_rows(spec, "eng_Latn", "reference", [("q", 0, row)], lambda _i: [], 16, PROMPT, budget)[0]
    assert req["tokens_truncated"] > 0 and not req["failed"]
    assert all(x in req["prompt"] for x in ("Which one is right?", "(D) fourth", "Answer:"))
    assert req["prompt_tokens"] + 16 <= 512


def test_without_budget_prompts_are_untouched():
    reqs = build("xlsum", [article(0, 3000)], [article(1, 3000)], None)
    assert reqs[0]["shots_used"] == 1 and reqs[0]["prompt_tokens"] is None and not reqs[0]["failed"]


def test_report_budget_table_counts_per_model_task_language(tmp_path):
    import pandas as pd

    from maple.report.budget import budget_table
    from maple.report.common import normalise

    rows = []
    for cell_rank, fewer in ((8, 3), (16, 3)):
        for metric, value in (("budget_requests", 10), ("budget_fewer_shots", fewer), ("budget_truncated", 1),
                              ("budget_failed", 0), ("rougeL", 0.2)):
            rows.append({"model": "m", "dataset": "d", "rank": cell_rank, "bits": 16, "task": "xlsum",
                         "language": "thai", "protocol": "megaverse", "metric": metric, "value": value,
                         "source": "measured"})
    table = budget_table(normalise(pd.DataFrame(rows)))
    assert table.to_dict("records") == [{"model": "m", "task": "xlsum", "language": "thai", "protocol": "megaverse",
                                         "requests": 10, "fewer shots": 3, "truncated": 1, "failed (scored 0)": 0}]


SHARED_ALPACA = SHARED_DATA / "alpaca_eval"


@needs_mistral
def test_judge_prompts_fit_the_judges_context(tok):
    """AlpacaEval outputs run to 2,048 new tokens; two of them plus the instruction overflow a
    4,096-token judge. The pair is cut to fit (the shorter keeps what it can), recorded, never raised."""
    import json

    from maple.judge import judge_requests

    path = SHARED_ALPACA / "model_outputs_gpt4.eval.jsonl"
    if not path.exists():
        pytest.skip("../shared/data/alpaca_eval is absent")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:3]]
    budget = Budget(tok, 4096)
    long_output = " ".join(r["output"] for r in rows) * 8  # far beyond 2,048 tokens
    records = [
        {"id": "long", "protocol": "reference", "instruction": rows[0]["instruction"], "gold": [long_output],
         "output": long_output},
        {"id": "one-long", "protocol": "reference", "instruction": rows[1]["instruction"], "gold": [rows[1]["output"]],
         "output": long_output},
        {"id": "short", "protocol": "reference", "instruction": rows[2]["instruction"], "gold": [rows[2]["output"]],
         "output": rows[2]["output"]},
    ]
    assert budget.count_bare(long_output) > 4096
    reqs = judge_requests(records, PROMPT, budget=budget)
    assert len(reqs) == 6 and not any(r["failed"] for r in reqs)
    assert all(budget.count(r["prompt"]) + r["max_new_tokens"] <= 4096 for r in reqs)
    long_ab, _, one_ab, one_ba, short_ab, _ = reqs
    assert long_ab["tokens_truncated"] > 0 and long_ab["output_a"] and long_ab["output_b"]
    # the short reference is kept whole, only the long output is cut, in both orders
    assert one_ab["output_b"] == rows[1]["output"] and one_ba["output_a"] == rows[1]["output"]
    assert one_ab["output_a"] == one_ba["output_b"] and long_output.startswith(one_ab["output_a"])
    assert short_ab["tokens_truncated"] == 0 and short_ab["output_a"] == rows[2]["output"]
    # an instruction that alone overflows the context fails the request instead of raising
    huge = [{**records[2], "id": "huge", "instruction": long_output * 2}]
    assert all(r["failed"] for r in judge_requests(huge, PROMPT, budget=budget))


@needs_mistral
def test_a_jobs_prompts_tokenised_in_one_batch_are_the_ids_one_by_one(tok):
    """VllmBackend.generate tokenises a job's prompts in one batched call (maple.generate.backends.
    prompt_ids): on real XL-Sum and MLQA text with Mistral-7B's tokenizer, every prompt's ids equal
    `tokenizer(prompt)`'s, BOS included, nothing padded."""
    import json

    from maple.generate.backends import prompt_ids

    texts = []
    for pattern in ("xlsum/*.jsonl", "mlqa/*.jsonl"):
        for path in sorted(SHARED_DATA.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                texts.append(row.get("text") or row.get("context"))
    if not texts:
        pytest.skip("../shared/data has no XL-Sum or MLQA rows")
    texts += ["", " ", "\n\nTrue", texts[0][:1]]
    batched = prompt_ids(tok, texts)
    assert batched == [tok(t)["input_ids"] for t in texts]
    assert len({len(ids) for ids in batched}) > 10 and all(ids[0] == tok.bos_token_id for ids in batched)
