"""MLQA: exact match and F1 (0..1), max over the gold answers.

reference  the official `mlqa_evaluation_v1.py` (vendored in _vendor/mlqa_v1.py): per-language
           articles (en es vi de ar; none for hi zh), Unicode punctuation, zh mixed segmentation.
megaverse  what MEGAVERSE's `mega/eval_qa_gptturbo.py -d mlqa` did: the MLQA normaliser on the
           prediction only, then HF `evaluate.load("squad")` (SQuAD v1.1) on that and the raw golds.
"""

from __future__ import annotations

from maple.metrics._vendor import mlqa_v1
from maple.metrics.squad import squad_scores


def mlqa_scores(prediction: str, golds: list[str], lang: str) -> dict:
    """Official MLQA EM and F1 of one prediction, max over the gold answers."""
    em = mlqa_v1.metric_max_over_ground_truths(mlqa_v1.exact_match_score, prediction, golds, lang)
    f1 = mlqa_v1.metric_max_over_ground_truths(mlqa_v1.f1_score, prediction, golds, lang)
    return {"exact_match": float(em), "f1": float(f1)}


def score(protocol: str, lang: str, prediction: str, golds: list[str]) -> dict:
    if protocol == "megaverse":
        # quirk: MEGAVERSE runs the MLQA normaliser on the prediction alone, then SQuAD v1.1 EM/F1 on
        # whitespace tokens against the unnormalised golds: zh F1 collapses (the segmented prediction
        # "黑 豹 队" no longer matches the gold token "黑豹队"), and es/de/vi/ar articles left in a
        # gold now count against a prediction that lost them
        return squad_scores(mlqa_v1.normalize_answer(prediction, lang), golds)
    return mlqa_scores(prediction, golds, lang)
