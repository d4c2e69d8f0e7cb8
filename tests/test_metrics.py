"""maple.metrics against the official scripts' outputs, the MEGAVERSE quirks, and real task data."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import types
import warnings
from pathlib import Path

import pytest

from conftest import shared_files

from maple.metrics import MetricUnavailableError, ScoringInputError, score_records

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "metrics"
SHARED = ROOT.parent / "shared" / "data"
CASES = json.loads((DATA / "qa_cases.json").read_text(encoding="utf-8"))
OFFICIAL = json.loads((DATA / "official_outputs.json").read_text(encoding="utf-8"))
TOL = 1e-6


def _load_official(name: str, filename: str):
    """An unmodified official script (tests/data/metrics/official/) imported as a module."""
    spec = importlib.util.spec_from_file_location(name, DATA / "official" / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the MLQA script's invalid '\s' escape
    SQUAD_OFFICIAL = _load_official("squad_official", "evaluate-v1.1.py")
    MLQA_OFFICIAL = _load_official("mlqa_official", "mlqa_evaluation_v1.py")
    MEGAVERSE = _load_official("megaverse_excerpts", "megaverse_excerpts.py")


def _one(task, lang, protocol, prediction, references, options=None):
    summary, _ = score_records(task, lang, protocol, [{"prediction": prediction, "references": references}], options)
    return summary


# --- agreement with the official scripts --------------------------------------------------------

@pytest.mark.parametrize("vendored, oracle, documented_edits", [
    ("squad_v1_1.py", "evaluate-v1.1.py", {}),
    # the one change its header states: the Arabic article pattern as a raw string
    ("mlqa_v1.py", "mlqa_evaluation_v1.py", {"re.sub('\\sال^|ال'": "re.sub(r'\\sال^|ال'"}),
])
def test_vendored_scripts_are_the_oracles_verbatim(vendored, oracle, documented_edits):
    """The package's copies are the official scripts plus a comment header and the edits it names."""
    ours = (Path(__file__).parent.parent / "maple" / "metrics" / "_vendor" / vendored).read_text(encoding="utf-8")
    official = (DATA / "official" / oracle).read_text(encoding="utf-8")
    for old, new in documented_edits.items():
        assert old in official
        official = official.replace(old, new)
    assert ours.endswith(official)
    header = ours[: len(ours) - len(official)]
    assert all(line.startswith("#") for line in header.splitlines())


def test_official_outputs_are_current():
    """official_outputs.json is what the unmodified scripts give now (make_official_outputs.py)."""
    sys.path.insert(0, str(DATA))
    try:
        from make_official_outputs import MLQA, SQUAD, run_official
    finally:
        sys.path.remove(str(DATA))
    assert run_official(SQUAD, CASES["squad"], "1.1") == OFFICIAL["squad"]["aggregate"]
    for case in CASES["squad"]:
        golds = case["references"]
        em = SQUAD_OFFICIAL.metric_max_over_ground_truths(SQUAD_OFFICIAL.exact_match_score, case["prediction"], golds)
        f1 = SQUAD_OFFICIAL.metric_max_over_ground_truths(SQUAD_OFFICIAL.f1_score, case["prediction"], golds)
        assert OFFICIAL["squad"]["per_example"][case["id"]] == {"exact_match": 100.0 * em, "f1": 100.0 * f1}
    for lang, cases in CASES["mlqa"].items():
        assert run_official(MLQA, cases, "1.0", lang) == OFFICIAL["mlqa"][lang]["aggregate"]
        for case in cases:
            args = (case["prediction"], case["references"], lang)
            em = MLQA_OFFICIAL.metric_max_over_ground_truths(MLQA_OFFICIAL.exact_match_score, *args)
            f1 = MLQA_OFFICIAL.metric_max_over_ground_truths(MLQA_OFFICIAL.f1_score, *args)
            assert OFFICIAL["mlqa"][lang]["per_example"][case["id"]] == {"exact_match": 100.0 * em, "f1": 100.0 * f1}


def test_xquad_reference_equals_official_squad_v1_1():
    cases = CASES["squad"]
    summary, per_example = score_records("xquad", "en", "reference", cases)
    expected = OFFICIAL["squad"]["aggregate"]
    assert summary["n"] == len(cases)
    assert abs(summary["f1"] - expected["f1"] / 100) < TOL
    assert abs(summary["exact_match"] - expected["exact_match"] / 100) < TOL
    for case, example in zip(cases, per_example):
        official = OFFICIAL["squad"]["per_example"][case["id"]]
        assert example["id"] == case["id"]
        assert abs(example["score"]["f1"] - official["f1"] / 100) < TOL, case
        assert abs(example["score"]["exact_match"] - official["exact_match"] / 100) < TOL, case


def test_xquad_reference_is_language_blind():
    """The official v1.1 script has no language: every XQuAD language scores alike."""
    cases = CASES["squad"]
    en, _ = score_records("xquad", "en", "reference", cases)
    for lang in ("zh", "th", "ar", "hi"):
        assert score_records("xquad", lang, "reference", cases)[0] == en


@pytest.mark.parametrize("lang", sorted(CASES["mlqa"]))
def test_mlqa_reference_equals_official_mlqa(lang):
    cases = CASES["mlqa"][lang]
    summary, per_example = score_records("mlqa", lang, "reference", cases)
    expected = OFFICIAL["mlqa"][lang]["aggregate"]
    assert abs(summary["f1"] - expected["f1"] / 100) < TOL
    assert abs(summary["exact_match"] - expected["exact_match"] / 100) < TOL
    for case, example in zip(cases, per_example):
        official = OFFICIAL["mlqa"][lang]["per_example"][case["id"]]
        assert abs(example["score"]["f1"] - official["f1"] / 100) < TOL, case
        assert abs(example["score"]["exact_match"] - official["exact_match"] / 100) < TOL, case


@pytest.mark.parametrize(
    "lang, prediction, gold, em, f1",
    [
        ("en", "The Broncos", "Broncos", 1, 1),  # English articles
        ("es", "la casa blanca", "casa blanca", 1, 1),  # Spanish articles
        ("de", "die Prinzessin", "Prinzessin", 1, 1),  # German articles
        ("de", "„Victoria“", "Victoria", 1, 1),  # Unicode quotation marks are punctuation
        ("vi", "của Việt Nam", "Việt Nam", 1, 1),
        ("ar", "القاهرة،", "القاهرة", 1, 1),  # Arabic comma
        ("hi", "भारत का।", "भारत का", 1, 1),  # danda
        ("zh", "黑豹队的防守", "黑豹队", 0, 2 / 3),  # mixed segmentation: one CJK character per token
        ("zh", "NFL联赛", "NFL", 0, 0.5),  # ... runs of other characters stay whole
    ],
)
def test_mlqa_known_values(lang, prediction, gold, em, f1):
    summary = _one("mlqa", lang, "reference", prediction, [gold])
    assert summary["exact_match"] == pytest.approx(em) and summary["f1"] == pytest.approx(f1)


def test_multiple_golds_take_the_best():
    assert _one("xquad", "en", "reference", "Gold coin", ["gold", "coin", "gold coins"])["f1"] == pytest.approx(2 / 3)
    assert _one("mlqa", "zh", "reference", "肖特", ["卡万 肖特", "肖特"])["exact_match"] == 1.0


# --- MEGAVERSE quirks, each visible against the reference protocol ------------------------------

def test_quirk_xnli_containment():
    records = [{"prediction": "t", "label": 0}, {"prediction": "It is true.", "label": "True"}]
    mega, _ = score_records("xnli", "en", "megaverse", records)
    ref, _ = score_records("xnli", "en", "reference", records)
    assert mega["accuracy"] == 1.0 and ref["accuracy"] == 0.0
    # the quirk never rescues an empty prediction (MEGAVERSE skips it)
    assert score_records("xnli", "en", "megaverse", [{"prediction": "", "label": 0}])[0]["accuracy"] == 0.0


def test_quirk_xquad_prediction_loses_unicode_punctuation():
    # MEGAVERSE strips «» from the prediction; the official script keeps them
    assert _one("xquad", "en", "megaverse", "«Paris»", ["Paris"])["exact_match"] == 1.0
    assert _one("xquad", "en", "reference", "«Paris»", ["Paris"])["exact_match"] == 0.0
    # ... but not from the gold: a real zh gold with "·" no longer matches itself
    assert _one("xquad", "zh", "reference", "卡万·肖特", ["卡万·肖特"])["exact_match"] == 1.0
    assert _one("xquad", "zh", "megaverse", "卡万·肖特", ["卡万·肖特"])["exact_match"] == 0.0


def test_quirk_zh_th_f1_collapses_to_em():
    # SQuAD F1 on whitespace tokens: a partial zh/th answer earns nothing (MLQA's reference does)
    for protocol in ("megaverse", "reference"):
        assert _one("xquad", "zh", protocol, "黑豹队的防守", ["黑豹队"])["f1"] == 0.0
        assert _one("xquad", "th", protocol, "กรุงเทพมหานคร", ["กรุงเทพ"])["f1"] == 0.0
    assert _one("mlqa", "zh", "reference", "黑豹队的防守", ["黑豹队"])["f1"] == pytest.approx(2 / 3)
    assert _one("mlqa", "zh", "megaverse", "黑豹队的防守", ["黑豹队"])["f1"] == 0.0
    # MEGAVERSE's MLQA normaliser splits even an exact zh answer into characters
    assert _one("mlqa", "zh", "megaverse", "黑豹队", ["黑豹队"])["exact_match"] == 0.0


def test_quirk_mlqa_articles_only_stripped_from_the_prediction():
    assert _one("mlqa", "es", "reference", "la casa", ["la casa"])["exact_match"] == 1.0
    mega = _one("mlqa", "es", "megaverse", "la casa", ["la casa"])
    assert mega["exact_match"] == 0.0 and mega["f1"] == pytest.approx(2 / 3)


def test_quirk_xlsum_mean_of_prf_with_stemming():
    from maple.metrics.rouge import scorer

    pred, ref = "The cats are running quickly", "the cat runs quick"
    mega = _one("xlsum", "english", "megaverse", pred, [ref])["rougeL"]
    s = scorer(None, True).score(ref, pred)["rougeL"]  # MEGAVERSE: Porter stemming, no lang
    assert mega == pytest.approx((s.precision + s.recall + s.fmeasure) / 3)
    assert s.precision != s.recall  # the mean differs from F here
    assert mega != pytest.approx(s.fmeasure)
    ref_f1 = _one("xlsum", "english", "reference", pred, [ref])["rougeL"]  # no stemming by default
    assert ref_f1 == pytest.approx(0.2222222222) and mega > ref_f1


def test_quirk_xlsum_no_language_tokeniser():
    # MEGAVERSE passes no lang: Thai is not segmented (unspaced text is one token), so a partial match scores 0
    pred, ref = "นักวิจัยชี้เสียงนกร้องช่วงล็อกดาวน์มีคุณภาพ", "นักวิจัยชี้เสียงนกร้องมีคุณภาพมากขึ้น"
    assert _one("xlsum", "thai", "megaverse", pred, [ref])["rougeL"] == 0.0
    assert _one("xlsum", "thai", "reference", pred, [ref])["rougeL"] > 0.5


def test_belebele_metric_only_compares():
    """Belebele's quirk (parse_pred) lives in extraction: given predictions, both protocols agree."""
    records = [{"prediction": 1, "label": 1}, {"prediction": 2, "label": 1}, {"prediction": -1, "label": 0},
               {"prediction": "B", "label": 1}, {"prediction": "2", "label": 1}, {"prediction": "(b)", "label": "B"},
               {"prediction": 2, "label": "C"}, {"prediction": 2, "label": "3"}]
    expected = {"reference": [1, 0, 0, 1, 1, 1, 1, 1],
                # mega/eval_belebele.py evaluate: `pred == label` on parse_pred's output, case-sensitive: "(b)" is not B
                "megaverse": [1, 0, 0, 1, 1, 0, 1, 1]}
    for protocol in ("megaverse", "reference"):
        summary, per = score_records("belebele", "eng_Latn", protocol, records)
        assert [e["score"]["accuracy"] for e in per] == expected[protocol]


def test_quirk_belebele_via_task_extraction():
    record = {"output": "The answer is (B), not (A).", "gold": 0, "choices": ["(A)", "(B)", "(C)", "(D)"]}
    assert score_records("belebele", "eng_Latn", "megaverse", [record])[0]["accuracy"] == 1.0  # "A" is tested first
    assert score_records("belebele", "eng_Latn", "reference", [record])[0]["accuracy"] == 0.0


# Outputs on which MEGAVERSE's parse_pred and maple's former rule ("the gold letter or digit anywhere
# counts") disagree, plus ordinary ones. gold = 1..4 as the hub's correct_answer_num.
BELEBELE_DISAGREE = [
    ("Answer: (C)", 3),  # parse_pred: the "A" of "Answer" -> A; the old rule: C
    ("(A) (B) (C) (D)", 2),  # listing every option: the old rule scored any gold as correct
    ("(A) (B) (C) (D)", 4),
    ("The correct answer is (D)", 4),  # no capital A..C, no digit: D
    ("Option 2", 2),  # O-p-t-i-o-n: no A; "2" -> B
    ("c", 3),  # lower case never hits: the raw text, never equal to a letter
    ("(B) 1", 2),  # "1" is tested with "A": A
    ("Both B and D", 4),  # B before D
    ("D. The passage says 3 times", 4),  # "3" with C comes before D
    ("", 1), ("   ", 1), ("nothing here", 2), ("B", 2), ("4", 4), ("(C)", 3), ("A", 1),
]


def test_megaverse_belebele_equals_parse_pred():
    """Every output above, against every gold: maple's megaverse accuracy equals MEGAVERSE's code."""
    choices = ["(A)", "(B)", "(C)", "(D)"]
    outputs = sorted({o for o, _ in BELEBELE_DISAGREE})
    for output in outputs:
        for num in (1, 2, 3, 4):
            expected = MEGAVERSE.belebele_match(output, num)
            for gold in (num - 1, "ABCD"[num - 1], str(num)):  # index, verbalised letter, hub string
                record = {"id": "x", "output": output, "gold": gold, "choices": choices}
                ours = score_records("belebele", "eng_Latn", "megaverse", [record])[0]["accuracy"]
                assert ours == expected, (output, gold)


def test_belebele_cases_really_disagree_with_the_old_rule():
    """The cases above are ones the former rule got wrong (so the test above can fail on it)."""
    import re

    def old_rule(output, num):  # maple's former megaverse rule: the gold letter or digit anywhere
        found = re.findall(r"\(([A-Da-d1-4])\)|(?<![A-Za-z0-9])([A-D1-4])(?![A-Za-z0-9])", output)
        found = ["ABCD".index(t.upper()) if t.upper() in "ABCD" else int(t) - 1 for pair in found for t in pair if t]
        return float(num - 1 in found)

    differs = [(o, n) for o, n in BELEBELE_DISAGREE if old_rule(o, n) != MEGAVERSE.belebele_match(o, n)]
    assert ("Answer: (C)", 3) in differs and ("(A) (B) (C) (D)", 2) in differs and len(differs) >= 5


XCOPA_OUTPUTS = ["choice1", "choice2", "Choice 2.", "I pick choice2", "choice2 is more plausible", "c", "choice",
                 "\nchoice1", "choice1\nchoice2", "", "2", "Choice1!", "the choice2", "choice12"]


def test_megaverse_xcopa_equals_run_seq_eval():
    """XCOPA ran through eval_cls.run_seq_eval (no --parallel_eval): containment, not startswith."""
    labels = ("choice1", "choice2")
    disagree = 0
    for output in XCOPA_OUTPUTS:
        for gold, label in enumerate(labels):
            record = {"id": "x", "output": output, "gold": gold, "choices": list(labels)}
            ours = score_records("xcopa", "sw", "megaverse", [record])[0]["accuracy"]
            # a raw output is post-processed as hf_model_completion returns it, then run_seq_eval's rule
            expected = MEGAVERSE.xnli_match(MEGAVERSE.hf_postprocess(output), label)
            assert ours == expected, (output, label)
            disagree += MEGAVERSE.parallel_match(output, label) != expected
            # a string prediction is what hf_model_completion returned: run_seq_eval's rule alone
            ours = score_records("xcopa", "sw", "megaverse", [{"prediction": output, "label": gold}])[0]["accuracy"]
            assert ours == MEGAVERSE.xnli_match(output, label), (output, label)
    assert disagree >= 3  # "I pick choice2", "c", "choice", ... : the startswith rule would differ


# --- multilingual ROUGE ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "lang, prediction, reference",
    [
        ("thai", "นักวิจัยชี้เสียงนกร้องช่วงล็อกดาวน์มีคุณภาพ", "นักวิจัยชี้เสียงนกร้องมีคุณภาพมากขึ้น"),
        ("chinese_simplified", "黑豹队的防守只丢了308分", "黑豹队的防守只丢了很少分"),
        ("hindi", "भारत ने मैच जीत लिया है", "भारत ने आज मैच जीता"),
        ("burmese", "မြန်မာနိုင်ငံ သတင်း", "မြန်မာနိုင်ငံ"),
        ("bengali", "আপনার সাথে দেখা হয়ে ভালো লাগলো।", "তোমার সাথে দেখা হয়ে ভালো লাগলো।"),
    ],
)
def test_xlsum_non_latin_scores_are_not_zero(lang, prediction, reference):
    score = _one("xlsum", lang, "reference", prediction, [reference])["rougeL"]
    assert 0.0 < score < 1.0
    assert _one("xlsum", lang, "reference", reference, [reference])["rougeL"] == pytest.approx(1.0)


def test_xlsum_reference_is_the_multilingual_rouge_library():
    from multilingual_rouge import rouge_scorer

    pred, ref = "黑豹队的防守只丢了308分", "黑豹队的防守只丢了很少分"
    direct = rouge_scorer.RougeScorer(["rougeL"], lang="chinese").score(ref, pred)["rougeL"].fmeasure
    assert _one("xlsum", "chinese_simplified", "reference", pred, [ref])["rougeL"] == pytest.approx(direct, abs=TOL)


def test_xlsum_stemming_option():
    pred, ref = "भारत ने मैच जीतेंगे", "भारत ने मैच जीता"  # the Hindi stemmer needs no NLTK data
    plain = _one("xlsum", "hindi", "reference", pred, [ref])["rougeL"]
    stemmed = _one("xlsum", "hindi", "reference", pred, [ref], {"stem": True})["rougeL"]
    assert stemmed >= plain
    bengali = _one("xlsum", "bengali", "reference", "আমাদের বাড়িতে", ["আমাদের বাড়ি"], {"stem": True})
    assert bengali["rougeL"] > 0  # the vendored rule file makes Bengali stemming work at all


def test_xlsum_snowball_stemming_needs_nltk_stopwords():
    import nltk

    try:
        nltk.data.find("corpora/stopwords")
        pytest.skip("NLTK stopwords are installed here")
    except LookupError:
        pass
    with pytest.raises(MetricUnavailableError, match="stopwords"):
        _one("xlsum", "english", "reference", "cats", ["cat"], {"stem": True})


def test_xlsum_japanese_segmented():
    try:
        score = _one("xlsum", "japanese", "reference", "東京で大きな地震がありました", ["東京で地震がありました"])
    except MetricUnavailableError:
        pytest.skip("no MeCab dictionary (unidic / unidic-lite) installed")
    assert 0.5 < score["rougeL"] < 1.0


# --- accuracy -----------------------------------------------------------------------------------

def test_accuracy_labels_and_strings():
    records = [
        {"prediction": 0, "label": 0},
        {"prediction": 2, "gold": 1},
        {"prediction": "contradiction", "label": 2},
        {"prediction": "False", "label": 2},
        {"prediction": "Neither", "label": "neither"},
        {"prediction": None, "label": 1},
        {"prediction": "", "label": 1},
    ]
    summary, per = score_records("xnli", "en", "reference", records)
    assert [e["score"]["accuracy"] for e in per] == [1, 0, 1, 1, 1, 0, 0]
    assert summary == {"n": 7, "accuracy": pytest.approx(4 / 7)}
    xcopa = [{"prediction": "choice2", "label": 1}, {"prediction": 1, "label": 1}, {"prediction": "choice1", "label": 1}]
    assert score_records("xcopa", "et", "reference", xcopa)[0]["accuracy"] == pytest.approx(2 / 3)


def test_accuracy_uses_record_choices():
    record = {"prediction": "Maybe", "label": 1, "choices": ["Yes", "Maybe", "No"]}
    assert score_records("xnli", "en", "reference", [record])[0]["accuracy"] == 1.0


# --- AlpacaEval ---------------------------------------------------------------------------------

def _judgements(pairs):
    out = []
    for i, (ab, ba) in enumerate(pairs):
        out.append({"id": f"eval-{i}", "order": "ab", "preference": ab, "output_length": 100, "reference_length": 90})
        out.append({"id": f"eval-{i}", "order": "ba", "preference": ba, "output_length": 100, "reference_length": 90})
    return out


def test_alpaca_win_rate_ties_and_both_orders():
    # model wins both orders; loses both; a tie; a position-biased judge (first shown always wins)
    records = _judgements([(1, 2), (2, 1), (0, 0), (1, 1)])
    summary, per = score_records("alpaca_eval", "en", "megaverse", records)
    assert summary == {"n": 4, "win_rate": pytest.approx(100 * (1 + 0 + 0.5 + 0.5) / 4)}
    assert [e["score"]["win"] for e in per] == [1.0, 0.0, 0.5, 0.5]


def test_alpaca_unparsed_judgements_are_dropped():
    records = _judgements([(1, None), (None, None)])
    summary, per = score_records("alpaca_eval", "en", "reference", records, {"length_controlled": False})
    assert summary == {"n": 1, "win_rate": 100.0, "lc_win_rate": None}
    assert per[1]["score"] == {"win": None, "judgements": 0, "unparsed": 2}


def test_alpaca_win_rate_matches_alpaca_eval_package():
    winrate = pytest.importorskip("alpaca_eval.metrics.winrate")
    prefs = [1, 2, 0, 2, 2, 1.5, 1, 2]
    records = [{"id": i, "order": "ba", "preference": p} for i, p in enumerate(prefs)]  # "ba": preference 2 = model
    ours = score_records("alpaca_eval", "en", "megaverse", records)[0]["win_rate"]
    assert ours == pytest.approx(winrate.get_winrate([{"preference": p} for p in prefs])["win_rate"])


def test_alpaca_lc_win_rate_null_without_offline_data(monkeypatch):
    # without the package (or without its hub data cached), the LC win rate is null, never a download
    monkeypatch.setitem(sys.modules, "alpaca_eval", None)
    summary, _ = score_records("alpaca_eval", "en", "reference", _judgements([(1, 2)]))
    assert summary["lc_win_rate"] is None and summary["win_rate"] == 100.0


def test_alpaca_lc_win_rate_calls_the_package(monkeypatch):
    """With alpaca_eval and its data cached, the package's own GLM function gets one row per instruction."""
    seen = {}

    import huggingface_hub

    def fake_lc(annotations, **kwargs):
        seen["frame"], seen["kwargs"] = annotations, kwargs
        seen["offline"] = huggingface_hub.constants.HF_HUB_OFFLINE
        return {"length_controlled_winrate": 42.0}

    glm = types.ModuleType("alpaca_eval.metrics.glm_winrate")
    glm.get_length_controlled_winrate = fake_lc
    package = types.ModuleType("alpaca_eval")
    package.constants = types.SimpleNamespace(DEFAULT_CACHE_DIR=None)
    monkeypatch.setitem(sys.modules, "alpaca_eval", package)
    monkeypatch.setitem(sys.modules, "alpaca_eval.constants", package.constants)
    monkeypatch.setitem(sys.modules, "alpaca_eval.metrics", types.ModuleType("alpaca_eval.metrics"))
    monkeypatch.setitem(sys.modules, "alpaca_eval.metrics.glm_winrate", glm)
    offline_before = huggingface_hub.constants.HF_HUB_OFFLINE
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: "/cached/df_gamed.csv")
    summary, _ = score_records("alpaca_eval", "en", "reference", _judgements([(1, 2), (2, 2)]))
    assert summary["lc_win_rate"] == 42.0
    frame = seen["frame"]
    assert list(frame["index"]) == [0, 1] and list(frame["preference"]) == [2.0, 1.5]
    assert list(frame["output_2"].str.len()) == [100, 100] and list(frame["output_1"].str.len()) == [90, 90]
    assert seen["kwargs"]["save_weights_dir"] is None
    assert seen["offline"] is True  # the hub is never contacted
    assert huggingface_hub.constants.HF_HUB_OFFLINE == offline_before


# --- input handling -----------------------------------------------------------------------------

def test_empty_prediction_scores_zero():
    for task, lang in (("xquad", "en"), ("mlqa", "zh"), ("xlsum", "thai")):
        for protocol in ("megaverse", "reference"):
            for pred in ("", None):
                summary, _ = score_records(task, lang, protocol, [{"prediction": pred, "references": ["ทดสอบ 黑豹"]}])
                assert all(v == 0.0 for k, v in summary.items() if k != "n")


@pytest.mark.parametrize(
    "records, message",
    [
        ([], "no records"),
        ([{"references": ["a"]}], "record 1: missing field 'prediction'"),
        ([{"prediction": "a", "references": ["a"]}, {"prediction": "a"}], "record 2: missing field 'references'"),
        ([{"prediction": "a", "references": []}], "record 1: references must be a non-empty list"),
        (["not a dict"], "record 1: not a JSON object"),
        ([{"prediction": 3, "references": ["a"]}], "record 1: prediction is int"),
    ],
)
def test_malformed_records_raise(records, message):
    with pytest.raises(ScoringInputError, match=message) as err:
        score_records("xquad", "en", "reference", records)
    assert "\n" not in str(err.value)


def test_bad_task_language_label():
    with pytest.raises(ScoringInputError, match="unknown task"):
        score_records("squad2", "en", "reference", [{"prediction": "a", "references": ["a"]}])
    with pytest.raises(ScoringInputError, match="unknown language"):
        score_records("mlqa", "fr", "reference", [{"prediction": "a", "references": ["a"]}])
    with pytest.raises(ScoringInputError, match="unknown language"):
        score_records("belebele", "english", "reference", [{"prediction": 1, "label": 1}])
    with pytest.raises(ScoringInputError, match="not a label index"):
        score_records("xnli", "en", "reference", [{"prediction": 1, "label": -1}])
    with pytest.raises(ScoringInputError, match="no choices"):
        score_records("xnli", "en", "reference", [{"prediction": "yes", "label": 7}])
    with pytest.raises(ScoringInputError, match="preference"):
        score_records("alpaca_eval", "en", "reference", [{"id": 1, "order": "ab", "preference": 3}])


def test_raw_outputs_are_extracted_as_the_workflow_does():
    records = [{"output": "\n Denver Broncos \nQ: next question", "gold": ["Denver Broncos"]}]
    summary, per = score_records("xquad", "en", "reference", records)
    assert per[0]["prediction"] == "Denver Broncos" and summary["exact_match"] == 1.0
    summary, _ = score_records("xlsum", "english", "reference", [{"output": "  a b c  ", "gold": ["a b c"]}])
    assert summary["rougeL"] == pytest.approx(1.0)


def test_raw_outputs_use_task_extraction(monkeypatch):
    import maple.metrics as metrics

    calls = []

    def extract(task, protocol, output, record):
        calls.append((task, protocol, output))
        return 1

    monkeypatch.setattr(metrics, "extract_answer", extract)
    summary, _ = score_records("xcopa", "et", "megaverse", [{"output": "choice2", "gold": 1}])
    assert calls == [("xcopa", "megaverse", "choice2")] and summary["accuracy"] == 1.0


# --- real task data (shared/data) ----------------------------------------------------------------

def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_shared = shared_files


def _perturb(text: str, rng: random.Random) -> str:
    """Drop a word (or, unspaced, a third of the characters) and add a word."""
    words = text.split()
    if len(words) > 1:
        words.pop(rng.randrange(len(words)))
        return " ".join(words + ["extra"])
    return text[: max(1, len(text) * 2 // 3)] + " extra"


def test_real_qa_golds_against_themselves_and_perturbed():
    rng = random.Random(0)
    files = _shared("xquad/validation.*.jsonl") + _shared("mlqa/validation.*.jsonl")
    for path in files:
        task = path.parent.name
        lang = path.name.split(".")[1]
        rows = _jsonl(path)
        golds = [r["answers"]["text"] for r in rows]
        exact = [{"id": r["id"], "prediction": g[0], "references": g} for r, g in zip(rows, golds)]
        summary, _ = score_records(task, lang, "reference", exact)
        assert summary["exact_match"] == 1.0 and summary["f1"] == 1.0, path
        mega, _ = score_records(task, lang, "megaverse", exact)
        assert 0.0 <= mega["exact_match"] <= 1.0 and mega["n"] == len(rows)
        perturbed = [{**e, "prediction": _perturb(e["prediction"], rng)} for e in exact]
        summary, _ = score_records(task, lang, "reference", perturbed)
        assert summary["exact_match"] < 1.0 and summary["f1"] < 1.0, path
        # per example, the official scripts agree on real multilingual text
        for example, score in zip(perturbed, score_records(task, lang, "reference", perturbed)[1]):
            if task == "xquad":
                f1 = SQUAD_OFFICIAL.metric_max_over_ground_truths(
                    SQUAD_OFFICIAL.f1_score, example["prediction"], example["references"])
            else:
                f1 = MLQA_OFFICIAL.metric_max_over_ground_truths(
                    MLQA_OFFICIAL.f1_score, example["prediction"], example["references"], lang)
            assert abs(score["score"]["f1"] - f1) < TOL


def test_real_xquad_zh_megaverse_loses_golds_with_unicode_punctuation():
    path = _shared("xquad/validation.zh.jsonl")[0]
    rows = _jsonl(path)
    exact = [{"prediction": r["answers"]["text"][0], "references": r["answers"]["text"]} for r in rows]
    mega, per = score_records("xquad", "zh", "megaverse", exact)
    with_dot = [e["score"]["exact_match"] for e, x in zip(per, exact) if "·" in x["prediction"]]
    assert with_dot and not any(with_dot)  # "卡万·肖特" no longer matches itself under MEGAVERSE
    assert mega["exact_match"] < 1.0


def test_real_xlsum_summaries():
    rng = random.Random(0)
    for path in _shared("xlsum/sample.*.jsonl"):
        lang = path.name.split(".")[1]
        rows = _jsonl(path)[:5]
        exact = [{"id": r["id"], "prediction": r["summary"], "references": [r["summary"]]} for r in rows]
        for protocol in ("reference", "megaverse"):
            assert score_records("xlsum", lang, protocol, exact)[0]["rougeL"] == pytest.approx(1.0), (path, protocol)
        half = [{**e, "prediction": e["prediction"][: len(e["prediction"]) // 2]} for e in exact]
        summary, per = score_records("xlsum", lang, "reference", half)
        assert 0.0 < summary["rougeL"] < 1.0, path
        assert all(e["score"]["rougeL"] > 0 for e in per), path
        shuffled = [{**e, "prediction": " ".join(rng.sample(e["prediction"].split(), len(e["prediction"].split())))}
                    for e in exact]
        assert score_records("xlsum", lang, "reference", shuffled)[0]["rougeL"] < 1.0


def test_alpaca_lc_win_rate_null_when_hub_data_not_cached():
    pytest.importorskip("alpaca_eval.metrics.glm_winrate")
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("tatsu-lab/alpaca_eval", "df_gamed.csv", repo_type="dataset"), str):
        pytest.skip("alpaca_eval's hub data is cached here")
    summary, _ = score_records("alpaca_eval", "en", "reference", _judgements([(1, 2), (2, 1)]))
    assert summary["lc_win_rate"] is None and summary["win_rate"] == 50.0


# --- fuzzing on real text: official scripts and MEGAVERSE's code as oracles ---------------------

MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")


def _fuzz(text: str, context: str, rng: random.Random) -> str:
    """A prediction near a gold: as is, a word dropped, wrapped in articles/punctuation, cut, doubled, a context span."""
    roll = rng.random()
    words = text.split()
    if roll < 0.15:
        return text
    if roll < 0.3 and len(words) > 1:
        words.pop(rng.randrange(len(words)))
        return " ".join(words)
    if roll < 0.55:
        return (rng.choice(["The ", "la ", "der ", "《", "“", "", "ال", "của "]) + text
                + rng.choice([".", "。", "」", "!", " extra", "،", "।", "", "·x"]))
    if roll < 0.7:
        return text[: max(1, len(text) // 2)]
    if roll < 0.85:
        return text + " " + text[::-1]
    start = rng.randrange(len(context))
    return context[start: start + rng.randrange(1, 40)]


def _fuzzed_qa(reps: int = 5):
    rng = random.Random(7)
    for path in _shared("xquad/validation.*.jsonl") + _shared("mlqa/validation.*.jsonl"):
        lang = path.name.split(".")[1]
        cases = []
        for rep in range(reps):
            for row in _jsonl(path):
                golds = row["answers"]["text"]
                cases.append({"id": f"{row['id']}-{rep}", "prediction": _fuzz(rng.choice(golds), row["context"], rng),
                              "references": golds})
        yield lang, cases


def test_fuzzed_real_qa_equals_official_scripts():
    sys.path.insert(0, str(DATA))
    try:
        from make_official_outputs import MLQA, SQUAD, run_official
    finally:
        sys.path.remove(str(DATA))
    for lang, cases in _fuzzed_qa():
        ours, _ = score_records("xquad", "en", "reference", cases)
        official = run_official(SQUAD, cases, "1.1")
        assert abs(ours["f1"] - official["f1"] / 100) < TOL and abs(ours["exact_match"] - official["exact_match"] / 100) < TOL
        if lang in MLQA_LANGS:  # XQuAD's ar/en/es/hi/zh text doubles as MLQA-language text
            ours, _ = score_records("mlqa", lang, "reference", cases)
            official = run_official(MLQA, cases, "1.0", lang)
            assert abs(ours["f1"] - official["f1"] / 100) < TOL
            assert abs(ours["exact_match"] - official["exact_match"] / 100) < TOL


def test_fuzzed_real_qa_megaverse_equals_megaverse_code():
    def official(prediction, golds):
        em = SQUAD_OFFICIAL.metric_max_over_ground_truths(SQUAD_OFFICIAL.exact_match_score, prediction, golds)
        f1 = SQUAD_OFFICIAL.metric_max_over_ground_truths(SQUAD_OFFICIAL.f1_score, prediction, golds)
        return {"exact_match": float(em), "f1": float(f1)}

    for lang, cases in _fuzzed_qa():
        _, per = score_records("xquad", "en", "megaverse", cases)
        for case, example in zip(cases, per):
            assert example["score"] == official(MEGAVERSE.normalize_answer(case["prediction"]), case["references"])
        if lang in MLQA_LANGS:
            _, per = score_records("mlqa", lang, "megaverse", cases)
            for case, example in zip(cases, per):
                normalised = MEGAVERSE.normalize_answer_mlqa(lang, case["prediction"])
                assert example["score"] == official(normalised, case["references"])


def test_megaverse_xnli_equals_megaverse_code():
    labels = ("True", "Neither", "False")
    outputs = ["True", "true.", "t", "F", "neither", "It is false\nTrue", "", " ", "the", "Neutral", "n", "e",
               "</s>True", "Maybe", "FALSE!", "tr", "ue"]
    for output in outputs:
        for gold, label in enumerate(labels):
            ours = score_records("xnli", "en", "megaverse", [{"prediction": output, "label": gold}])[0]["accuracy"]
            assert ours == MEGAVERSE.xnli_match(output, label), (output, label)


def test_real_xlsum_megaverse_equals_megaverse_code():
    from multilingual_rouge import rouge_scorer

    rng = random.Random(3)
    for path in _shared("xlsum/sample.*.jsonl"):
        lang = path.name.split(".")[1]
        for row in _jsonl(path)[:4]:
            words = row["text"].split()
            start = rng.randrange(max(1, len(words) - 40))
            prediction = " ".join(words[start: start + 40])  # a lead-like summary from the article
            ours = _one("xlsum", lang, "megaverse", prediction, [row["summary"]])["rougeL"]
            assert ours == pytest.approx(MEGAVERSE.xlsum_rouge_l(rouge_scorer, prediction, row["summary"]), abs=TOL)
