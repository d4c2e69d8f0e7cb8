"""AlpacaEval pairwise judging: the cell's output against the reference output, in both orders
(to cancel position bias), by a local model (served like any base model) or an API model.

Local judge: the preference is weighted by the judge's probabilities of the two labels, as
alpaca_eval's weighted annotators do (preference = 1 + P(b), P renormalised over "a" and "b"),
not the argmax letter (kept as `preference_argmax`). API judge: with `evaluation.judge.annotator`
(an alpaca_eval annotator config, e.g. weighted_alpaca_eval_gpt4_turbo) the alpaca_eval package's
own PairwiseAnnotator judges, its key from the environment; otherwise the plain chat call below.
"""

from __future__ import annotations

import math
import os
import re
import time

from maple.io import provenance, versions, write_jsonl

# The alpaca_eval "alpaca_eval_clf" style: the judge names the better output as (a) or (b).
JUDGE_TEMPLATE = (
    "You are a helpful assistant that decides which of two outputs better follows an instruction.\n\n"
    "## Instruction\n{instruction}\n\n## Output (a)\n{output_a}\n\n## Output (b)\n{output_b}\n\n"
    "## Which output is better, (a) or (b)? Answer with the letter a or b alone."
)
_CHOICE = re.compile(r"^\s*\(?\s*([ab])\b|output \(([ab])\)", re.IGNORECASE)


def parse_preference(text: str) -> int | None:
    """1 = the first shown output wins, 2 = the second, None = the judge gave no usable answer."""
    match = _CHOICE.search(text or "")
    if not match:
        return None
    return 1 if (match.group(1) or match.group(2)).lower() == "a" else 2


def fit_outputs(render, a: str, b: str, max_new_tokens: int, budget=None) -> tuple[str, str, int, bool]:
    """Outputs (a, b) cut so that render(a, b) plus the judge's reply fits its context: AlpacaEval
    outputs run to 2,048 tokens each. The shorter keeps up to half the room, the longer the rest;
    returns (a, b, tokens cut, failed) where failed means not even the empty pair fits."""
    if budget is None:
        return a, b, 0, False
    limit = budget.max_model_len - max_new_tokens
    if budget.count(render(a, b)) <= limit:
        return a, b, 0, False
    room = limit - budget.count(render("", ""))
    if room <= 0:
        return a, b, 0, True
    cuts_a, cuts_b = budget.cuts(a), budget.cuts(b)
    keep_a = min(len(cuts_a), max(room // 2, room - len(cuts_b)))
    keep_b = min(len(cuts_b), room - keep_a)
    while True:  # pieces tokenise a little differently inside the template: shrink until it fits
        cut_a = a[: cuts_a[keep_a - 1]] if keep_a else ""
        cut_b = b[: cuts_b[keep_b - 1]] if keep_b else ""
        if budget.count(render(cut_a, cut_b)) <= limit or keep_a + keep_b == 0:
            break
        keep_a, keep_b = max(0, keep_a - 4), max(0, keep_b - 4)
    return cut_a, cut_b, (len(cuts_a) - keep_a) + (len(cuts_b) - keep_b), False


def judge_requests(records: list[dict], prompt_cfg: dict | None, max_new_tokens: int = 8, budget=None) -> list[dict]:
    """Both orders of each record; with `budget` (the local judge's tokenizer and context) the two
    outputs are cut to fit (fit_outputs) and the request records `tokens_truncated` and `failed`."""
    from maple.tasks import wrap_prompt

    out = []
    for rec in records:
        reference = rec["gold"][0] if isinstance(rec["gold"], list) else rec["gold"]
        instruction = rec.get("instruction") or rec["prompt"]

        def render(a, b, instruction=instruction):
            text = JUDGE_TEMPLATE.format(instruction=instruction, output_a=a, output_b=b)
            return wrap_prompt(text, prompt_cfg) if prompt_cfg else text

        for order, (a, b) in {"ab": (rec["output"], reference), "ba": (reference, rec["output"])}.items():
            a, b, cut, failed = fit_outputs(render, a, b, max_new_tokens, budget)
            out.append(
                {
                    "id": rec["id"],
                    "protocol": rec["protocol"],
                    "lang": rec.get("lang", "en"),
                    "order": order,  # ab: the model's output is shown first
                    "prompt": render(a, b),
                    "max_new_tokens": max_new_tokens,
                    "stop": ["\n"],
                    # a local judge chooses between the two letters, as alpaca_eval's logprob judges do
                    "allowed": ["a", "b"],
                    "choices": ["a", "b"],  # their log-probabilities weight the preference
                    "instruction": instruction,
                    "output_a": a,
                    "output_b": b,
                    "output_length": len(rec["output"]),
                    "reference_length": len(reference),
                    "tokens_truncated": cut,
                    "failed": failed,
                }
            )
    return out


def _api_generate(model: str, requests: list[dict]) -> list[str]:
    """An OpenAI-compatible API judge; the key only from the environment, never written anywhere."""
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ValueError(f"evaluation.judge.api: {model!r} needs OPENAI_API_KEY in the environment")
    from maple.deps import require

    require("openai", "openai", "generate")
    from openai import OpenAI

    client = OpenAI(api_key=key, base_url=os.environ.get("OPENAI_BASE_URL"))
    texts = []
    for r in requests:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": r["prompt"]}], temperature=0, max_tokens=r["max_new_tokens"]
        )
        texts.append(reply.choices[0].message.content or "")
    return texts


def weighted_preference(logprobs: list[float]) -> float | None:
    """1 + P(b) from the log-probabilities of "a" and "b" (renormalised over the two): 1 = the first
    shown output wins for sure, 2 = the second, 1.5 = undecided (alpaca_eval's weighted preference)."""
    if not logprobs or len(logprobs) != 2 or any(v is None or math.isnan(v) for v in logprobs):
        return None
    la, lb = logprobs
    top = max(la, lb)
    pa, pb = math.exp(la - top), math.exp(lb - top)
    return 1.0 + pb / (pa + pb)


def _alpaca_eval_annotate(annotator: str, requests: list[dict]) -> list[float | None]:
    """alpaca_eval's own PairwiseAnnotator with one of its annotator configs (API key from the env)."""
    if not os.environ.get("OPENAI_API_KEY"):
        raise ValueError(f"evaluation.judge.annotator: {annotator!r} needs OPENAI_API_KEY in the environment")
    try:
        from alpaca_eval.annotators import PairwiseAnnotator
    except ImportError:
        raise ValueError("evaluation.judge.annotator: the alpaca_eval package is not installed "
                         "(pip install alpaca-eval)") from None
    annotator_obj = PairwiseAnnotator(annotators_config=annotator, caching_path=None, seed=0)
    pairs = [{"instruction": r["instruction"], "output_1": r["output_a"], "output_2": r["output_b"]} for r in requests]
    annotated = annotator_obj.annotate_pairs(pairs)
    out = []
    for row in annotated:
        pref = row.get("preference")
        out.append(None if pref is None or (isinstance(pref, float) and math.isnan(pref)) else float(pref))
    return out


def judge_cells(batches: list[tuple[list[dict], str]], judge_cfg: dict, judge_model_cfg: dict, settings: dict) -> dict:
    """Judge several cells' AlpacaEval outputs with one judge load; batches are (records, out_file)."""
    from maple.generate.run import _backend, generate_unique, request_budget

    started = time.time()
    local = not judge_cfg.get("api")
    prompt_cfg = settings["prompt"] if local else None
    # a local judge's prompts are fitted to its own context (an API judge's context is its own affair)
    budget = request_budget(settings, judge_model_cfg, judge_model_cfg["path"]) if local else None
    requests = [judge_requests(records, prompt_cfg, budget=budget) for records, _ in batches]
    flat = [r for reqs in requests for r in reqs]
    weighted = None
    if judge_cfg.get("api") and judge_cfg.get("annotator"):
        weighted = _alpaca_eval_annotate(judge_cfg["annotator"], flat)
        outputs = ["" for _ in flat]
        judge_name = f"alpaca_eval:{judge_cfg['annotator']}"
    elif judge_cfg.get("api"):
        outputs = _api_generate(judge_cfg["api"], flat)
        judge_name = judge_cfg["api"]
    else:
        # settings.evaluation.backend is the judge's own (job_params.judge_params resolved it)
        backend = _backend(settings, judge_model_cfg, judge_model_cfg["path"])
        outputs = generate_unique(backend, flat)  # "" for a request that cannot fit
        live = [i for i, r in enumerate(flat) if not r["failed"]]
        weighted = [None] * len(flat)
        for i, lp in zip(live, backend.choice_logprobs([flat[i] for i in live])):
            weighted[i] = weighted_preference(lp)
        judge_name = judge_model_cfg["path"]
    unparsed = 0
    offset = 0
    for (_, out_file), reqs in zip(batches, requests):
        rows = []
        for j, (req, text) in enumerate(zip(reqs, outputs[offset : offset + len(reqs)])):
            argmax = parse_preference(text)
            rows.append(
                {
                    "id": req["id"],
                    "lang": req["lang"],
                    "protocol": req["protocol"],
                    "order": req["order"],
                    "preference": weighted[offset + j] if weighted is not None else argmax,
                    "preference_argmax": argmax,
                    "weighted": weighted is not None,
                    "judge_output": text,
                    "judge": judge_name,
                    "output_length": req["output_length"],
                    "reference_length": req["reference_length"],
                    "tokens_truncated": req["tokens_truncated"],
                    "failed": req["failed"],
                }
            )
        offset += len(reqs)
        unparsed += sum(r["preference"] is None for r in rows)
        write_jsonl(out_file, rows)
    return {"judgements": len(flat), "unparsed": unparsed, "truncated": sum(r["tokens_truncated"] > 0 for r in flat),
            "failed": sum(r["failed"] for r in flat), "seconds": time.time() - started, "versions": versions(),
            **provenance()}
