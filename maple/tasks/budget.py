"""Fit a prompt plus its max_new_tokens into the model's context, as MEGAVERSE's API path did.

MEGAVERSE's API path (mega/eval_qa_gptturbo.py) retried a prompt that did not fit with one shot fewer
("Unable To Fit Context Size. Reducing few-size by 1"), dropping the last shot, until none was
left, and then gave an empty prediction. Its HF path checked only XNLI/XCOPA (get_hf_model_pred:
prompt tokens > max_position_embeddings raises, run_seq_eval drops the last shot, a random label at
none) and sent QA, Belebele and XL-Sum prompts to model.generate unchecked; vLLM cannot run past
max_model_len, so maple fits every task the API path's way (docs/protocols.md), with the model's own
tokenizer, and before giving up truncates the one field a task declares truncatable (the evaluated
passage or article, never the question, the options or the answer cue). A request that still cannot fit is
marked failed: it is not generated, its output is empty and it scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Budget:
    """A model's context and how its tokenizer counts a prompt (as the backend will tokenise it)."""

    tokenizer: object  # a transformers tokenizer
    max_model_len: int

    def count(self, prompt: str) -> int:
        # special tokens included: the backends tokenise prompts with the BOS the model expects
        return len(self.tokenizer(prompt)["input_ids"])

    def count_bare(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cuts(self, text: str) -> list[int]:
        """Character offset after each token of `text`: text[:cuts[k-1]] keeps its first k tokens."""
        if getattr(self.tokenizer, "is_fast", False):
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            return [end for _, end in enc["offset_mapping"]]
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [len(self.tokenizer.decode(ids[: k + 1])) for k in range(len(ids))]


@dataclass
class Fitted:
    prompt: str
    shots_used: int
    tokens_truncated: int
    prompt_tokens: int | None
    failed: bool


def fit_prompt(
    render: Callable[[dict, list], str],
    row: dict,
    shots: list,
    max_new_tokens: int,
    budget: Budget | None,
    truncatable: str | None,
    shot_tokens: list[int] | None = None,
) -> Fitted:
    """The prompt of `row` with as many of `shots` (in order) as fit, the passage cut if need be.

    render(row, shots) -> the full prompt. shot_tokens: each shot's token count, to skip counts
    that cannot fit (every chosen prompt is still counted exactly)."""
    prompt = render(row, shots)
    if budget is None:
        return Fitted(prompt, len(shots), 0, None, False)
    limit = budget.max_model_len - max_new_tokens
    n = budget.count(prompt)
    k = len(shots)
    while n > limit and k > 0:
        # one shot fewer at a time; skip straight past counts the estimate already rules out
        prev, k = k, k - 1
        if shot_tokens:
            while k > 0 and n - sum(shot_tokens[k:prev]) > limit + 16:
                k -= 1
        prompt = render(row, shots[:k])
        n = budget.count(prompt)
    if n <= limit:
        return Fitted(prompt, k, 0, n, False)
    if not truncatable or not row.get(truncatable):
        return Fitted(prompt, 0, 0, n, True)
    text = row[truncatable]
    cuts = budget.cuts(text)
    keep = len(cuts) - (n - limit)
    while keep > 0:
        cut_row = {**row, truncatable: text[: cuts[keep - 1]]}
        prompt = render(cut_row, [])
        n = budget.count(prompt)
        if n <= limit:
            return Fitted(prompt, 0, len(cuts) - keep, n, False)
        keep -= max(1, n - limit)
    prompt = render({**row, truncatable: ""}, [])
    return Fitted(prompt, 0, len(cuts), budget.count(prompt), True)


def budget_counts(records: list[dict]) -> dict:
    """Per group of requests: how many lost shots, were truncated, or could not fit (failed)."""
    have = [r for r in records if "shots_used" in r]
    return {
        "budget_requests": len(records),
        "budget_fewer_shots": sum(1 for r in have if r["shots_used"] < r.get("shots", r["shots_used"])),
        "budget_truncated": sum(1 for r in have if r.get("tokens_truncated", 0) > 0),
        "budget_failed": sum(1 for r in records if r.get("failed")),
    }


BUDGET_METRICS = ("budget_requests", "budget_fewer_shots", "budget_truncated", "budget_failed")
