"""Accuracy for XNLI, XCOPA and Belebele: an extracted prediction against the gold label.

Predictions arrive already extracted (maple.tasks does it per protocol): an int label index
(-1 = no usable answer) or a string. Gold is an int index or a string. Ints compare as indices,
strings as normalised text; an index meets a string through the record's `choices` or the task's
own label words below. Belebele's MEGAVERSE quirk (parse_pred: the first of A/1, B/2, C/3, D/4 found
in the output) lives in maple.tasks' extractors; here both protocols just compare, except for the
XNLI/XCOPA containment rule, which MEGAVERSE applied at comparison time.
"""

from __future__ import annotations

from maple.metrics.errors import ScoringInputError
from maple.tasks import get_task
from maple.tasks.extract import megaverse_xnli_match, normalise


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def label_texts(task: str, gold: int, choices, index: int | None = None) -> tuple[str, ...]:
    """The text forms of label `gold`: the record's choice, else the task's label words."""
    forms = []
    if choices and 0 <= gold < len(choices):
        forms.append(str(choices[gold]))
    words = get_task(task).label_words  # the registry's text forms of each label index
    if 0 <= gold < len(words):
        forms.extend(words[gold])
    if not forms:
        raise ScoringInputError(
            f"gold label {gold} is an index, the prediction is text, and there are no choices to map one onto the other",
            index,
        )
    return tuple(forms)


def gold_label_index(task: str, gold):
    """A text gold that names a label, as its index, for tasks whose spec says so (`gold_is_label_word`:
    Belebele's "C" / "(C)", MEGAVERSE's verbalised label, or the hub's 1-based "3"); None otherwise."""
    spec = get_task(task)
    if not spec.gold_is_label_word or not isinstance(gold, str):
        return None
    text = gold.strip().strip("()").strip().lower()
    return next((i for i, words in enumerate(spec.label_words) if text in words), None)


def megaverse_belebele_correct(task: str, prediction, gold) -> bool:
    """mega/eval_belebele.py, evaluate: `pred == label`, case-sensitive, where pred is parse_pred's
    letter (a string prediction is parsed; MEGAVERSE's recorded predictions are parse_pred's fixed
    points) and label the VERBALIZER letter of correct_answer_num."""
    from maple.tasks.extract import megaverse_parse_pred

    if prediction is None or prediction == "":
        return False
    if _is_index(prediction):
        prediction = "ABCD"[prediction] if 0 <= prediction < 4 else None
    else:
        prediction = megaverse_parse_pred(prediction)
    gold_index = gold if _is_index(gold) else gold_label_index(task, gold)
    label = "ABCD"[gold_index] if gold_index is not None and 0 <= gold_index < 4 else str(gold)
    return prediction == label


def is_correct(task: str, prediction, gold, choices=None, index: int | None = None, containment: bool = False) -> bool:
    """containment: MEGAVERSE's rule (the `label_containment` scorer), else the normalised label text."""
    if prediction is None or prediction == "":
        return False
    if gold_label_index(task, gold) is not None:
        gold = gold_label_index(task, gold)  # label words compare as indices, whatever the record's choices say
    if _is_index(prediction) and _is_index(gold):
        return prediction == gold  # (-1, no answer, never equals a gold label)
    if _is_index(prediction):
        # an index against a text gold: the index's choice text stands for the prediction
        if not choices or not 0 <= prediction < len(choices):
            return False
        prediction = str(choices[prediction])
    golds = label_texts(task, gold, choices, index) if _is_index(gold) else (str(gold),)
    if containment:
        # quirk: mega/eval/eval_cls.py run_seq_eval (XNLI; XCOPA ran without --parallel_eval, so the same
        # rule): correct when the prediction's first line and the label, SQuAD-normalised, contain one
        # another: "t", "true.", "it is true" all match "true"; only the label's verbaliser (its first
        # text form) takes part, as in MEGAVERSE
        return megaverse_xnli_match(str(prediction), golds[0])
    pred = normalise(str(prediction))
    return bool(pred) and any(pred == normalise(g) for g in golds)


def score(task: str, prediction, gold, choices=None, index: int | None = None, containment: bool = False) -> dict:
    return {"accuracy": float(is_correct(task, prediction, gold, choices, index, containment))}
