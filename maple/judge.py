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


def judge_requests(records: list[dict], prompt_cfg: dict | None, max_new_tokens: int = 8) -> list[dict]:
    from maple.tasks import wrap_prompt

    out = []
    for rec in records:
        reference = rec["gold"][0] if isinstance(rec["gold"], list) else rec["gold"]
        instruction = rec.get("instruction") or rec["prompt"]
        for order, (a, b) in {"ab": (rec["output"], reference), "ba": (reference, rec["output"])}.items():
            text = JUDGE_TEMPLATE.format(instruction=instruction, output_a=a, output_b=b)
            out.append(
                {
                    "id": rec["id"],
                    "protocol": rec["protocol"],
                    "lang": rec.get("lang", "en"),
                    "order": order,  # ab: the model's output is shown first
                    "prompt": wrap_prompt(text, prompt_cfg) if prompt_cfg else text,
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
    from maple.generate.run import _backend, generate_unique

    started = time.time()
    prompt_cfg = None if judge_cfg.get("api") else settings["prompt"]
    requests = [judge_requests(records, prompt_cfg) for records, _ in batches]
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
        outputs = generate_unique(backend, flat)
        weighted = [weighted_preference(lp) for lp in backend.choice_logprobs(flat)]
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
                }
            )
        offset += len(reqs)
        unparsed += sum(r["preference"] is None for r in rows)
        write_jsonl(out_file, rows)
    return {"judgements": len(flat), "unparsed": unparsed, "seconds": time.time() - started, "versions": versions(),
            **provenance()}
