"""Task metrics for both protocols (shared/PROTOCOL.md): `reference` = the official implementations,
`megaverse` = how MEGAVERSE scored the paper's baselines (each deviation marked `# quirk:`).

    score_records(task, lang, protocol, records, options=None) -> (summary, per_example)

summary: {"n": int, <metric>: float 0..1 (win rates in %), ...} with metrics `f1`, `exact_match`
(xquad, mlqa), `rougeL` (xlsum), `accuracy` (xnli, xcopa, belebele), `win_rate` and, for the
reference protocol, `lc_win_rate` (alpaca_eval; null when it cannot be computed offline).
per_example: [{"id", "prediction", "score": {...}}] in record order.

A record holds `prediction` (already extracted) or `output` (raw: extracted here through
maple.tasks.extract_answer), and gold as `references` (list[str]), `gold` (list[str] | int | str)
or `label` (int | str). AlpacaEval takes judgement records instead (see alpaca_eval.py).
options: {"stem": bool} ROUGE stemming for the xlsum reference protocol (default off);
{"length_controlled": bool} try alpaca_eval's LC win rate (default on).

Light at import: the metric modules (and multilingual_rouge, jieba, ...) load on first use.
"""

from __future__ import annotations

from maple.metrics.errors import MetricUnavailableError, ScoringInputError
from maple.metrics.languages import PROTOCOLS, TASKS, check
from maple.tasks import extract_answer, get_task
from maple.tasks.spec import EXTRACTIVE_QA, MULTIPLE_CHOICE, SUMMARISATION

__all__ = ["MetricUnavailableError", "PROTOCOLS", "ScoringInputError", "TASKS", "score_records"]


class _Kind:
    """Task groups by the registry's `kind`: a newly registered task joins its kind's group."""

    def __init__(self, *kinds):
        self.kinds = kinds

    def __contains__(self, task) -> bool:
        return get_task(task).kind in self.kinds


TEXT_TASKS = _Kind(EXTRACTIVE_QA, SUMMARISATION)  # gold is a list of reference strings
CLASSIFICATION_TASKS = _Kind(MULTIPLE_CHOICE)


def _prediction(task: str, protocol: str, record: dict, i: int):
    if "prediction" in record:
        pred = record["prediction"]
    elif "output" in record:
        output = record["output"] or ""
        if not isinstance(output, str):
            raise ScoringInputError(f"record {i + 1}: output is {type(output).__name__}, not a string", i)
        return extract_answer(task, protocol, output, record)
    else:
        raise ScoringInputError(f"record {i + 1}: missing field 'prediction' (or 'output')", i)
    if pred is None:
        return "" if task in TEXT_TASKS else None
    if task in TEXT_TASKS and not isinstance(pred, str):
        raise ScoringInputError(f"record {i + 1}: prediction is {type(pred).__name__}, not a string", i)
    if task in CLASSIFICATION_TASKS and (isinstance(pred, bool) or not isinstance(pred, (int, str))):
        raise ScoringInputError(f"record {i + 1}: prediction {pred!r} is not a label index or a string", i)
    return pred


def _gold(task: str, record: dict, i: int):
    for field in ("references", "gold", "label"):
        if field in record and record[field] is not None:
            gold = record[field]
            break
    else:
        raise ScoringInputError(f"record {i + 1}: missing field 'references' (or 'gold' / 'label')", i)
    if task in TEXT_TASKS:
        golds = [gold] if isinstance(gold, str) else gold
        if not isinstance(golds, list) or not golds or not all(isinstance(g, str) for g in golds):
            raise ScoringInputError(f"record {i + 1}: {field} must be a non-empty list of strings", i)
        return golds
    if isinstance(gold, list) and len(gold) == 1:
        gold = gold[0]
    if isinstance(gold, bool) or not isinstance(gold, (int, str)) or (isinstance(gold, int) and gold < 0):
        raise ScoringInputError(f"record {i + 1}: {field} {gold!r} is not a label index (>= 0) or a string", i)
    return gold


def _label(containment: bool):
    def factory(options: dict):
        from maple.metrics.accuracy import score

        return lambda task, protocol, lang, pred, gold, record, i: score(
            task, pred, gold, record.get("choices"), i, containment)

    return factory


def _parse_pred_exact(options: dict):
    from maple.metrics.accuracy import megaverse_belebele_correct

    return lambda task, protocol, lang, pred, gold, record, i: {
        "accuracy": float(megaverse_belebele_correct(task, pred, gold))}


def _text(module: str, variant: str):
    """A text metric module's `score(variant, lang, prediction, golds)`."""

    def factory(options: dict):
        import importlib

        score = importlib.import_module(f"maple.metrics.{module}").score
        return lambda task, protocol, lang, pred, golds, record, i: score(variant, lang, pred or "", golds)

    return factory


def _rouge(variant: str):
    def factory(options: dict):
        from maple.metrics.rouge import score

        stem = bool(options.get("stem", False))  # a scoring option: absent = the XL-Sum authors' setting
        return lambda task, protocol, lang, pred, golds, record, i: score(variant, lang, pred or "", golds, stem=stem)

    return factory


# ProtocolSpec.scorer -> a factory of the per-example function (names documented in maple/tasks/specs.py)
SCORERS = {
    "label_match": _label(containment=False),
    "label_containment": _label(containment=True),
    "parse_pred_exact": _parse_pred_exact,
    "squad_whitespace": _text("squad", "megaverse"),
    "squad_v1": _text("squad", "reference"),
    "mlqa_prediction_normalised": _text("mlqa", "megaverse"),
    "mlqa_official": _text("mlqa", "reference"),
    "rougeL_mean_prf": _rouge("megaverse"),
    "multilingual_rougeL_f1": _rouge("reference"),
}
# scorers of a whole set of judgement records (AlpacaEval): scorer -> alpaca_eval's variant
JUDGED_SCORERS = {"alpaca_eval_v1": "megaverse", "alpaca_eval_v2_lc": "reference"}


def score_records(task: str, lang: str, protocol: str, records: list[dict], options: dict | None = None):
    """Score one task x language x protocol group of records through the protocol's declared scorer:
    (summary, per_example)."""
    check(task, lang, protocol)
    options = dict(options or {})
    if not records:
        raise ScoringInputError(f"no records to score for {task}/{lang}/{protocol}")
    scorer = get_task(task).protocol(protocol).scorer
    if scorer in JUDGED_SCORERS:
        from maple.metrics import alpaca_eval

        return alpaca_eval.score(JUDGED_SCORERS[scorer], records, options)
    if scorer not in SCORERS:
        known = ", ".join([*SCORERS, *JUDGED_SCORERS])
        raise ScoringInputError(f"task {task}, protocol {protocol}: unknown scorer {scorer!r}; known: {known}")
    metric = SCORERS[scorer](options)

    per_example = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ScoringInputError(f"record {i + 1}: not a JSON object", i)
        pred = _prediction(task, protocol, record, i)
        gold = _gold(task, record, i)
        scores = metric(task, protocol, lang, pred, gold, record, i)
        per_example.append({"id": record.get("id", i), "prediction": pred, "score": scores})
    summary = {"n": len(per_example)}
    for name in get_task(task).protocol(protocol).metrics:  # the registry names each protocol's metrics
        summary[name] = sum(e["score"][name] for e in per_example) / len(per_example)
    return summary, per_example
