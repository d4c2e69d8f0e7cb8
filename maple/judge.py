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


def _completion_text(raw) -> str:
    """The text of an alpaca_eval raw completion (a dict, or its JSON string)."""
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    return (raw or {}).get("text") or "" if isinstance(raw, dict) else ""


def _argmax(weighted: float | None) -> int | None:
    """The argmax label beside a weighted preference: 1 below 1.5, 2 above, None when undecided or absent."""
    if weighted is None or weighted == 1.5:
        return None
    return 1 if weighted < 1.5 else 2


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


def judge_requests(records: list[dict], prompt_cfg: dict | None, max_new_tokens: int = 8, budget=None,
                   text=None) -> list[dict]:
    """Both orders of each record; with `budget` (the local judge's tokenizer and context) the two
    outputs are cut to fit (fit_outputs) and the request records `tokens_truncated` and `failed`.
    `text(instruction, a, b)` renders the judge's prompt (default: JUDGE_TEMPLATE)."""
    from maple.tasks import wrap_prompt

    if text is None:
        def text(instruction, a, b):
            return JUDGE_TEMPLATE.format(instruction=instruction, output_a=a, output_b=b)

    out = []
    for rec in records:
        reference = rec["gold"][0] if isinstance(rec["gold"], list) else rec["gold"]
        instruction = rec.get("instruction") or rec["prompt"]

        def render(a, b, instruction=instruction):
            body = text(instruction, a, b)
            return wrap_prompt(body, prompt_cfg) if prompt_cfg else body

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
    if top == -math.inf:  # neither label possible: no preference (alpaca_eval's NaN)
        return None
    pa, pb = math.exp(la - top), math.exp(lb - top)
    return 1.0 + pb / (pa + pb)


def _alpaca_eval_pairs(requests: list[dict]) -> list[dict]:
    return [{"instruction": r["instruction"], "output_1": r["output_a"], "output_2": r["output_b"]} for r in requests]


def alpaca_eval_config(annotator: str) -> tuple[dict, "Path"]:
    """alpaca_eval's own annotator config (name or path) and the folder its prompt paths are relative to."""
    from pathlib import Path

    try:
        from alpaca_eval import constants as ae_constants, utils as ae_utils
    except ImportError:
        raise ValueError("evaluation.judge.annotator: the alpaca_eval package is not installed "
                         "(pip install 'alpaca-eval'; extra generate)") from None
    path = Path(annotator) if Path(annotator).exists() else ae_constants.EVALUATORS_CONFIG_DIR / annotator
    if not (path / "configs.yaml").exists() and not path.is_file():
        raise ValueError(f"evaluation.judge.annotator: {annotator!r} is not an alpaca_eval annotator config "
                         f"(see {ae_constants.EVALUATORS_CONFIG_DIR})")
    configs = ae_utils.load_configs(path)
    config_file = path if path.is_file() else path / "configs.yaml"
    return configs, config_file.parents[1]


def served_annotator_config(annotator: str, served_name: str, base_url: str, out_dir: str,
                            top_logprobs: int | None = None) -> str:
    """alpaca_eval's annotator config pointed at a local OpenAI-compatible server: only the model name,
    the client (base_url, a placeholder key: the server asks for none) and optionally top_logprobs
    change; its prompt, decoding and completion parser are alpaca_eval's. Returns the config folder."""
    from pathlib import Path

    import yaml

    configs, base = alpaca_eval_config(annotator)
    out = Path(out_dir) / "annotator"
    out.mkdir(parents=True, exist_ok=True)
    client_file = out / "client_configs.yaml"
    client_file.write_text(yaml.safe_dump({"default": [{"api_key": "local-no-key", "base_url": base_url}]}))
    for name, cfg in configs.items():
        if cfg.get("fn_completions") != "openai_completions":
            raise ValueError(f"evaluation.judge.annotator: {annotator!r} ({name}) uses {cfg.get('fn_completions')!r}; "
                             "a local judge is served through openai_completions only")
        kwargs = cfg.setdefault("completions_kwargs", {})
        kwargs.update(model_name=served_name, client_config_path=str(client_file))
        kwargs["requires_chatml"] = True  # the chat endpoint: logprob parsers read its logprobs.content
        if top_logprobs is not None and kwargs.get("top_logprobs") is not None:
            kwargs["top_logprobs"] = top_logprobs
        kwargs.pop("price_per_token", None)
        if "prompt_template" in cfg:
            cfg["prompt_template"] = str((base / cfg["prompt_template"]).resolve())
    (out / "configs.yaml").write_text(yaml.safe_dump(configs, sort_keys=False))
    return str(out)


def annotator_prompt_template(annotator: str) -> str:
    """The prompt template of alpaca_eval's annotator config (its first annotator)."""
    configs, base = alpaca_eval_config(annotator)
    return (base / next(iter(configs.values()))["prompt_template"]).read_text(encoding="utf-8")


def annotator_is_weighted(annotator: str) -> bool:
    configs, _ = alpaca_eval_config(annotator)
    return all(c.get("fn_completion_parser") == "logprob_parser" for c in configs.values())


def letter_logprobs(raw_completion, tokens=("m", "M")) -> dict | None:
    """The log-probabilities of the judge's two labels in its first token's top_logprobs (None: absent)."""
    if isinstance(raw_completion, str):
        import json

        try:
            raw_completion = json.loads(raw_completion)
        except ValueError:
            return None
    try:
        top = raw_completion["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    found = {t["token"]: t["logprob"] for t in top if t["token"] in tokens}
    return {t: found.get(t) for t in tokens}


def _alpaca_eval_annotate(annotator: str, requests: list[dict], base_url: str | None = None,
                          served_name: str | None = None, top_logprobs: int | None = None
                          ) -> tuple[list[float | None], list]:
    """alpaca_eval's own PairwiseAnnotator with one of its annotator configs: against an API (its key from
    the environment) or, with base_url, a local OpenAI-compatible server. maple shows both orders
    itself, so alpaca_eval's random order swap is off. Returns (preferences, raw completions)."""
    import tempfile

    if base_url is None and not os.environ.get("OPENAI_API_KEY"):
        raise ValueError(f"evaluation.judge.annotator: {annotator!r} needs OPENAI_API_KEY in the environment")
    alpaca_eval_config(annotator)  # a clear error when the package or the config is missing
    from alpaca_eval.annotators import PairwiseAnnotator

    with tempfile.TemporaryDirectory(prefix="maple-judge-") as tmp:
        config = annotator if base_url is None else served_annotator_config(
            annotator, served_name, base_url, tmp, top_logprobs)
        annotator_obj = PairwiseAnnotator(annotators_config=config, caching_path=None, seed=0,
                                          is_randomize_output_order=False)
        annotated = annotator_obj.annotate_pairs(_alpaca_eval_pairs(requests))
    by_pair = {(a["instruction"], a["output_1"], a["output_2"]): a for a in annotated}
    prefs, raws = [], []
    for pair in _alpaca_eval_pairs(requests):
        row = by_pair.get((pair["instruction"], pair["output_1"], pair["output_2"]), {})
        pref = row.get("preference")
        prefs.append(None if pref is None or (isinstance(pref, float) and math.isnan(pref)) else float(pref))
        raws.append(row.get("preference_raw_completion"))
    return prefs, raws


def chat_template_from_prompt(prompt_cfg: dict) -> str:
    """A chat template for a served judge whose tokenizer has none: the finetuning template around the
    messages' contents (alpaca_eval's annotators speak in chat messages)."""
    head, tail = prompt_cfg["template"].replace("{input_block}", "").split("{instruction}")
    body = "{% for message in messages %}{{ message['content'] }}{% if not loop.last %}\n\n{% endif %}{% endfor %}"
    return head.replace("{", "{{ '{' }}") + body + tail.replace("{", "{{ '{' }}")


# room kept beside the prompt for the chat template's tokens and the judge's one-token answer
SERVED_JUDGE_MARGIN = 64


def _served_annotate(annotator: str, flat: list[dict], judge_cfg: dict, judge_model_cfg: dict, settings: dict):
    """A local judge model behind `vllm serve`, judged by alpaca_eval's annotator (maple.generate.server)."""
    import tempfile
    from pathlib import Path

    from maple.generate.run import context_length
    from maple.generate.server import openai_server
    from maple.models import load_tokenizer

    path = judge_model_cfg["path"]
    tokenizer = load_tokenizer(path, judge_model_cfg.get("revision"), settings["trust_remote_code"])
    live = [r for r in flat if not r["failed"]]
    with tempfile.TemporaryDirectory(prefix="maple-serve-") as tmp:
        template = None
        if not getattr(tokenizer, "chat_template", None):
            template = str(Path(tmp) / "chat_template.jinja")
            Path(template).write_text(chat_template_from_prompt(settings["prompt"]), encoding="utf-8")
        top = judge_cfg.get("top_logprobs")
        with openai_server(path, served_name=path, device=settings["device"], seed=settings["seed"],
                           max_model_len=context_length(settings, judge_model_cfg),
                           max_logprobs=max(20, top or 0), chat_template=template,
                           revision=judge_model_cfg.get("revision"),
                           trust_remote_code=settings["trust_remote_code"]) as base_url:
            prefs, raws = _alpaca_eval_annotate(annotator, live, base_url=base_url, served_name=path, top_logprobs=top)
    weighted, raw_all = [None] * len(flat), [None] * len(flat)
    live_idx = [i for i, r in enumerate(flat) if not r["failed"]]
    for i, pref, raw in zip(live_idx, prefs, raws):
        weighted[i], raw_all[i] = pref, raw
    return weighted, raw_all


def judge_cells(batches: list[tuple[list[dict], str]], judge_cfg: dict, judge_model_cfg: dict, settings: dict) -> dict:
    """Judge several cells' AlpacaEval outputs with one judge load; batches are (records, out_file)."""
    from maple.generate.run import _backend, generate_unique, request_budget

    started = time.time()
    local = not judge_cfg.get("api")
    annotator = judge_cfg.get("annotator")
    served = local and bool(annotator)  # a local model behind vllm serve, judged by alpaca_eval's code
    prompt_cfg = settings["prompt"] if local and not served else None
    # a local judge's prompts are fitted to its own context (an API judge's context is its own affair)
    budget = request_budget(settings, judge_model_cfg, judge_model_cfg["path"]) if local else None
    text = None
    if served:
        ae_template = annotator_prompt_template(annotator)

        def text(instruction, a, b):
            return ae_template.replace("{instruction}", instruction).replace("{output_1}", a).replace("{output_2}", b)
    new_tokens = SERVED_JUDGE_MARGIN if served else 8
    requests = [judge_requests(records, prompt_cfg, new_tokens, budget=budget, text=text) for records, _ in batches]
    flat = [r for reqs in requests for r in reqs]
    weighted, raws, letters = None, [None] * len(flat), [None] * len(flat)
    if served:
        weighted, raws = _served_annotate(annotator, flat, judge_cfg, judge_model_cfg, settings)
        outputs = [_completion_text(raw) for raw in raws]
        letters = [letter_logprobs(raw) for raw in raws]
        judge_name = f"alpaca_eval:{annotator}@{judge_model_cfg['path']}"
    elif judge_cfg.get("api") and annotator:
        weighted, raws = _alpaca_eval_annotate(annotator, flat)
        outputs = [_completion_text(raw) for raw in raws]
        judge_name = f"alpaca_eval:{annotator}"
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
            letters[i] = dict(zip(("a", "b"), lp))
        judge_name = judge_model_cfg["path"]
    # alpaca_eval's weighted configs parse log-probabilities; its others return a label (1 or 2)
    is_weighted = weighted is not None and (not annotator or annotator_is_weighted(annotator))
    unparsed = 0
    offset = 0
    for (_, out_file), reqs in zip(batches, requests):
        rows = []
        for j, (req, text) in enumerate(zip(reqs, outputs[offset : offset + len(reqs)])):
            k = offset + j
            argmax = parse_preference(text) if not annotator else _argmax(weighted[k])
            rows.append(
                {
                    "id": req["id"],
                    "lang": req["lang"],
                    "protocol": req["protocol"],
                    "order": req["order"],
                    "preference": weighted[offset + j] if weighted is not None else argmax,
                    "preference_argmax": argmax,
                    "weighted": is_weighted,
                    "judge_output": text,
                    # the judge's log-probabilities of its two labels: the preference is recomputable
                    "label_logprobs": letters[k],
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
