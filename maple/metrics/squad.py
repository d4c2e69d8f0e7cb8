"""XQuAD: SQuAD v1.1 exact match and F1 (0..1), max over the gold answers.

reference  the official `evaluate-v1.1.py` (vendored in _vendor/squad_v1_1.py).
megaverse  what MEGAVERSE's `mega/eval_qa_gptturbo.py` did: its own normalize_answer on the
           prediction, then HF `evaluate.load("squad")` (the same v1.1 code) on that and the raw golds.
"""

from __future__ import annotations

from maple.metrics._vendor import mlqa_v1, squad_v1_1


def megaverse_normalize(s: str) -> str:
    """MEGAVERSE's normalize_answer (eval_qa_gptturbo.py): SQuAD's, with Unicode punctuation removed,
    which is the official MLQA normaliser's English branch."""
    return mlqa_v1.normalize_answer(s, "en")


def squad_scores(prediction: str, golds: list[str]) -> dict:
    """Official SQuAD v1.1 EM and F1 of one prediction, max over the gold answers."""
    em = squad_v1_1.metric_max_over_ground_truths(squad_v1_1.exact_match_score, prediction, golds)
    f1 = squad_v1_1.metric_max_over_ground_truths(squad_v1_1.f1_score, prediction, golds)
    return {"exact_match": float(em), "f1": float(f1)}


def score(protocol: str, lang: str, prediction: str, golds: list[str]) -> dict:
    if protocol == "megaverse":
        # quirk: MEGAVERSE strips Unicode punctuation from the prediction only, before the SQuAD metric
        # normalises both sides again (ASCII punctuation): a gold with «», 、 or । keeps it and misses
        prediction = megaverse_normalize(prediction)
    # quirk: SQuAD v1.1 F1 counts whitespace tokens, so zh/th F1 collapses to EM (the official
    # v1.1 script does the same: XQuAD's reference protocol inherits it, MLQA's does not)
    return squad_scores(prediction, golds)
