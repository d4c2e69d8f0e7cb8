"""Answer extraction: a raw generation -> a prediction the scorer compares with `gold`.

Multiple-choice extractors return an int label (-1 = no usable answer, which never equals gold);
generative extractors return a string ("" for an empty output, which scores zero). None raises.
"""

from __future__ import annotations

import re
import unicodedata

NO_ANSWER = -1


def first_line(output: str) -> str:
    """The first non-empty line (a leading newline must not turn the prediction into "")."""
    for line in (output or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def megaverse_output(output: str) -> str:
    """What MEGAVERSE's HF path hands its scorers: the decoded generation post-processed as
    mega/models/hf_completion_models.py, hf_model_completion returns it."""
    return (output or "").strip().strip("\n").strip("\r").strip("\t").strip(".")


def megaverse_first_line(prediction: str) -> str:
    """mega/eval/eval_cls.py, run_seq_eval: `pred_dict["prediction"].split("\n")[0]`: "\n" only, so
    "\r", U+2028, form feed and NEL stay inside the line; an empty first line stays empty."""
    return (prediction or "").split("\n")[0]


def megaverse_first_line_settled(cut: str) -> bool:
    """True when an output cut at its first "\n" (or complete) already fixes the XNLI/XCOPA score:
    it holds a character other than whitespace and ".". Then hf_model_completion's strip ends inside
    the cut, so the first line is the cut plus at most trailing whitespace and dots, which
    normalize_answer drops ("." is punctuation, whitespace is collapsed, and neither can form "</s>"
    or move a word boundary). Otherwise (e.g. the cut of "\ntrue" is "") the rest would be read."""
    return any(not (ch.isspace() or ch == ".") for ch in cut or "")


def normalise(text: str) -> str:
    """Casefold, drop punctuation and symbols, collapse whitespace."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in (text or "").casefold())
    return " ".join(kept.split())


def _contain(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a in b or b in a)


# --- XNLI -----------------------------------------------------------------------------------

def megaverse_xnli_match(prediction: str, label: str) -> bool:
    """MEGAVERSE's XNLI and XCOPA rule (mega/eval/eval_cls.py, run_seq_eval): the prediction's first
    line (split on "\n" only) and the label, both normalised by mega/utils/misc_utils.py normalize_answer
    ("</s>" dropped, then SQuAD's), match when one contains the other; "" never matches.
    `prediction` is what hf_model_completion returned (see megaverse_output)."""
    from maple.metrics._vendor.squad_v1_1 import normalize_answer

    pred = normalize_answer(megaverse_first_line(prediction).replace("</s>", "").strip())
    return bool(pred) and _contain(pred, normalize_answer(label.replace("</s>", "").strip()))


def xnli_megaverse(output: str, request: dict) -> int:
    verbs = [str(c) for c in request.get("choices") or []]
    gold = request.get("gold")
    output = megaverse_output(output)
    # quirk: MEGAVERSE counts a prediction correct when it and the gold label contain one another
    # ("t", "true.", "it is true" all match "true"), so the gold label wins whenever it matches
    if isinstance(gold, int) and 0 <= gold < len(verbs) and megaverse_xnli_match(output, verbs[gold]):
        return gold
    for i, verb in enumerate(verbs):
        if megaverse_xnli_match(output, verb):
            return i
    return NO_ANSWER


def xnli_reference(output: str, request: dict) -> int:
    """Exact verbaliser match: the first line, or its first word, is exactly one label word."""
    line = normalise(first_line(output))
    words = line.split()
    verbs = [normalise(c) for c in request.get("choices") or []]
    for candidate in (line, words[0] if words else ""):
        if candidate in verbs:
            return verbs.index(candidate)
    return NO_ANSWER


# --- XCOPA ----------------------------------------------------------------------------------

def xcopa_megaverse(output: str, request: dict) -> int:
    # quirk: MEGAVERSE's XCOPA scripts (hf_scripts/*/run_xcopa_all.sh) ran without --parallel_eval, so
    # mega/eval/eval_cls.py run_seq_eval scored them: the XNLI containment rule above, not
    # run_parallel_eval's `pred.startswith(label)` ("I pick choice2" counts, "Choice 2." does not)
    return xnli_megaverse(output, request)


_XCOPA_REF = re.compile(r"choice\s*([12])|(?<![0-9A-Za-z])([12])(?![0-9])", re.IGNORECASE)


def xcopa_reference(output: str, request: dict) -> int:
    """The first option named in the output: `choice1` / `choice 2` / a bare 1 or 2."""
    match = _XCOPA_REF.search(output or "")
    if not match:
        return NO_ANSWER
    return int(match.group(1) or match.group(2)) - 1


# --- Belebele -------------------------------------------------------------------------------

# a letter A-D (in brackets, or standing alone) or a digit 1-4 standing alone
_OPTION = re.compile(r"\(([A-Da-d1-4])\)|(?<![A-Za-z0-9])([A-D1-4])(?![A-Za-z0-9])")


def _option_index(token: str) -> int:
    token = token.upper()
    return "ABCD".index(token) if token in "ABCD" else int(token) - 1


def _options_in(output: str) -> list[int]:
    return [_option_index(m.group(1) or m.group(2)) for m in _OPTION.finditer(output or "")]


def megaverse_parse_pred(pred: str) -> str:
    """MEGAVERSE's Belebele answer parser, as written (mega/eval_belebele.py, parse_pred)."""
    # quirk: mega/eval_belebele.py parse_pred: case-sensitive substring tests, A or 1 first, then B/2,
    # C/3, D/4; the first hit wins, so "Answer: (C)" is A (the "A" of "Answer"); no hit: the raw text
    pred = str(pred)
    if "A" in pred or "1" in pred:
        return "A"
    elif "B" in pred or "2" in pred:
        return "B"
    elif "C" in pred or "3" in pred:
        return "C"
    elif "D" in pred or "4" in pred:
        return "D"
    return pred


def belebele_megaverse(output: str, request: dict) -> int:
    # the raw text parse_pred returns when nothing hits contains none of A-D, so it never equals the
    # gold letter (mega/eval_belebele.py, evaluate: `pred == label`): NO_ANSWER says the same
    letter = megaverse_parse_pred(megaverse_output(output))
    return "ABCD".index(letter) if letter in ("A", "B", "C", "D") else NO_ANSWER


def belebele_reference(output: str, request: dict) -> int:
    """The first option letter or digit parsed from the output."""
    found = _options_in(output)
    return found[0] if found else NO_ANSWER


# --- generative tasks -----------------------------------------------------------------------

def megaverse_answer(output: str, request: dict) -> str:
    """XQuAD, MLQA and XL-Sum under MEGAVERSE: the whole post-processed generation
    (mega/eval_qa_gptturbo.py, evaluate_qa_chatgpt: `normalize_fn(pred)` on all of it, then the SQuAD
    metric; mega/hf_models/src/eval_xlsum.py: ROUGE on all of it); normalisation is the scorer's job."""
    return megaverse_output(output)


def span_answer(output: str, request: dict) -> str:
    """Extractive QA: the first non-empty line; normalisation is the scorer's job (per protocol)."""
    return first_line(output)


def full_text(output: str, request: dict) -> str:
    """XL-Sum and AlpacaEval: the whole generation, stripped."""
    return (output or "").strip()
