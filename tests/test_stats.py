"""Uncertainty: lm-eval's stderr, seeded bootstrap intervals, paired tests, averages, comparisons,
the lm-eval layout and the provenance every record carries."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

from maple import stats
from maple.io import provenance, write_jsonl
from maple.report import intervals
from maple.report.lm_eval import lm_eval_results, write_lm_eval
from maple.score_cell import score_task, uncertainty

B = {"resamples": 1000, "seed": 1234, "confidence": 0.95}


def _hits(n: int, k: int) -> list[float]:
    return [1.0] * k + [0.0] * (n - k)


@pytest.mark.parametrize("n,k", [(2, 1), (7, 3), (100, 37), (1000, 999)])
def test_stderr_is_lm_evals_formula(n, k):
    p = k / n
    assert stats.stderr(_hits(n, k)) == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), abs=1e-12)
    x = np.linspace(0, 1, n) ** 2  # a non-binary metric: sample std (ddof 1) / sqrt(n)
    mean = x.mean()
    expected = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1)) / math.sqrt(n)
    assert stats.stderr(x) == pytest.approx(expected, rel=1e-12)


def test_stderr_needs_two_examples():
    assert stats.stderr([1.0]) is None


def test_bootstrap_is_seeded_and_deterministic():
    x = np.random.default_rng(0).random(50)
    assert stats.interval(x, 1000, seed=7) == stats.interval(x, 1000, seed=7)
    assert stats.interval(x, 1000, seed=7) != stats.interval(x, 1000, seed=8)
    np.random.seed(99)  # global numpy state plays no part
    first = stats.interval(x, 500, seed=3)
    np.random.seed(100)
    assert stats.interval(x, 500, seed=3) == first


def test_interval_contains_the_mean_and_shrinks_with_n():
    widths = []
    for n in (20, 200, 2000):
        x = _hits(n, int(0.6 * n))
        low, high = stats.interval(x, 1000, seed=1)
        assert low <= 0.6 <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # and the width matches the normal approximation within bootstrap noise
    assert widths[2] == pytest.approx(2 * 1.96 * math.sqrt(0.24 / 2000), rel=0.15)


def test_percentile_interval_coverage_is_near_nominal():
    rng = np.random.default_rng(5)
    covered = 0
    for trial in range(200):
        x = rng.random(60) < 0.3
        low, high = stats.interval(x.astype(float), 400, seed=trial)
        covered += low <= 0.3 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_stratified_average_resamples_each_language_on_its_own():
    # one language all correct: it has no variance; the interval comes from the other alone
    value, low, high = stats.weighted_interval([_hits(100, 100), _hits(100, 50)], [0.5, 0.5], 1000, 1)
    assert value == pytest.approx(0.75)
    single_low, single_high = stats.interval(_hits(100, 50), 1000, 1)
    # the second group's resamples use a different stream than alone, so compare widths only
    assert (high - low) == pytest.approx((single_high - single_low) / 2, rel=0.2)


def test_paired_difference_detects_a_real_gap_and_not_noise():
    rng = np.random.default_rng(3)
    a = (rng.random(400) < 0.7).astype(float)
    b = (rng.random(400) < 0.5).astype(float)
    gap = stats.paired_difference([a - b], None, 1000, 1)
    assert gap["excludes_zero"] and gap["ci_low"] > 0 and gap["p_value"] < 0.01
    same = stats.paired_difference([a - a], None, 1000, 1)
    assert same["difference"] == 0 and same["p_value"] == 1.0 and not same["excludes_zero"]


def test_score_rows_carry_stderr_and_interval():
    records = [{"id": i, "lang": "en", "protocol": "reference", "prediction": i % 3 == 0, "label": True}
               for i in range(30)]
    for r in records:
        r["prediction"] = 0 if r["prediction"] else 1
        r["label"] = 0
    rows, examples = score_task("m/none/base", "xnli", records, "hf/base", bootstrap=B)
    (row,) = [r for r in rows if r["metric"] == "accuracy"]
    p, n = row["value"], row["n"]
    assert p == pytest.approx(10 / 30) and n == 30
    assert abs(row["stderr"] - math.sqrt(p * (1 - p) / (n - 1))) < 1e-9
    assert row["ci_low"] <= p <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    assert row["cell"] == "m/none/base" and "git_commit" in row and "git_dirty" in row
    assert [e["score"]["accuracy"] for e in examples] == [float(i % 3 == 0) for i in range(30)]


def test_rows_without_per_example_values_have_no_interval():
    assert uncertainty([], 0.5, B) == {"stderr": None, "ci_low": None, "ci_high": None}


def _write_examples(tmp_path, cell, task, lang_hits: dict, protocol="megaverse", metric="accuracy"):
    path = tmp_path / "results" / "scores" / cell / f"{task}.examples.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{lang}-{i}", "lang": lang, "protocol": protocol, "prediction": None,
             "score": {metric: float(h)}}
            for lang, hits in lang_hits.items() for i, h in enumerate(hits)]
    write_jsonl(path, rows)
    return str(path)


def test_averages_and_comparisons(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    cells = {"m/none/base": 0.3, "m/multialpaca/r8-b16": 0.8, "m/multialpaca/r16-b16": 0.78,
             "m/alpaca/r8-b16": 0.5}
    for cell, p in cells.items():
        files.append(_write_examples(tmp_path, cell, "xnli", {
            "en": (rng.random(300) < p), "sw": (rng.random(200) < p)}))
        files.append(_write_examples(tmp_path, cell, "xquad", {"en": rng.random(100) * p * 1.2}, metric="f1"))
    examples = intervals.load_examples(files)
    avg = intervals.averages(examples, B)
    xnli = avg[(avg["cell"] == "m/alpaca/r8-b16") & (avg["task"] == "xnli")].iloc[0]
    en = examples["m/alpaca/r8-b16"][("megaverse", "xnli", "en")].values.mean()
    sw = examples["m/alpaca/r8-b16"][("megaverse", "xnli", "sw")].values.mean()
    # cells scored on the same examples share one ids tuple (memory at paper scale)
    assert examples["m/alpaca/r8-b16"][("megaverse", "xnli", "en")].ids is \
        examples["m/none/base"][("megaverse", "xnli", "en")].ids
    assert xnli["value"] == pytest.approx((en + sw) / 2)  # unweighted over languages, as Table 1
    assert xnli["ci_low"] <= xnli["value"] <= xnli["ci_high"] and xnli["n"] == 500
    overall = avg[(avg["task"] == "average") & (avg["language"] == "avg")]
    assert len(overall) == 4 and (overall["n_tasks"] == 2).all()
    comp = intervals.comparisons(examples, B, avg)
    kinds = set(comp["comparison"])
    assert kinds == set(intervals.COMPARISON_KINDS)
    vs_base = comp[(comp["comparison"] == "finetuned_vs_base") & (comp["cell_a"] == "m/multialpaca/r8-b16")
                   & (comp["language"] == "avg")].iloc[0]
    assert vs_base["excludes_zero"] and vs_base["difference"] > 0.3
    assert vs_base["difference"] == pytest.approx(vs_base["value_a"] - vs_base["value_b"])
    near = comp[comp["comparison"] == "rank_bits_vs_best"].iloc[0]  # r8 vs r16 on MultiAlpaca: 0.80 vs 0.78
    assert near["ci_low"] <= near["difference"] <= near["ci_high"]
    ds = comp[(comp["comparison"] == "dataset_vs_multialpaca") & (comp["task"] == "average")].iloc[0]
    assert ds["cell_b"].startswith("m/multialpaca/") and ds["difference"] < 0 and ds["excludes_zero"]
    again = intervals.comparisons(examples, B, intervals.averages(examples, B))
    assert again.equals(comp)  # seeded: the same numbers every run
    # Holm within each family (kind x protocol x task x language): filled, never below the raw p-value
    assert comp["p_holm"].notna().all() and (comp["p_holm"] >= comp["p_value"] - 1e-12).all()
    for _, family in comp.groupby(intervals.FAMILY):
        assert np.allclose(family["p_holm"], stats.holm(family["p_value"].to_numpy()))


def test_paired_matches_examples_by_id(tmp_path):
    a = _write_examples(tmp_path, "m/alpaca/r8-b16", "xnli", {"en": [1, 1, 0, 1]})
    b = _write_examples(tmp_path, "m/none/base", "xnli", {"en": [0, 1, 0]})  # lacks en-3
    examples = intervals.load_examples([a, b])
    got = intervals.paired(examples, "m/alpaca/r8-b16", "m/none/base", "megaverse", ["xnli"], False, B)
    assert got["n"] == 3 and got["difference"] == pytest.approx(1 / 3)


def test_lm_eval_layout(tmp_path):
    rows = [
        {"cell": "m/alpaca/r8-b16", "model": "m", "dataset": "alpaca", "rank": 8, "bits": 16, "task": "xnli",
         "language": lang, "protocol": "reference", "metric": "accuracy", "value": v, "n": 10, "stderr": 0.1,
         "ci_low": v - 0.2, "ci_high": v + 0.2}
        for lang, v in (("en", 0.6), ("sw", 0.4))
    ] + [{"cell": "m/alpaca/r8-b16", "model": "m", "dataset": "alpaca", "rank": 8, "bits": 16,
          "task": "alpaca_eval", "language": "en", "protocol": "reference", "metric": "lc_win_rate",
          "value": None, "n": 5, "stderr": None, "ci_low": None, "ci_high": None}]
    path = tmp_path / "xnli.json"
    path.write_text(json.dumps(rows))
    out = tmp_path / "lm_eval" / "m" / "alpaca" / "r8-b16.json"
    write_lm_eval("m/alpaca/r8-b16", [str(path)], str(out), {"seed": 1, "evaluation": {"backend": "hf"}})
    got = json.loads(out.read_text())
    for key in ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
                "n-samples", "config"):
        assert key in got
    assert got["results"]["xnli_en_reference"]["accuracy,none"] == 0.6
    assert got["results"]["xnli_en_reference"]["accuracy_stderr,none"] == 0.1
    assert got["results"]["alpaca_eval_en_reference"]["lc_win_rate,none"] == "N/A"
    assert got["n-samples"]["xnli_sw_reference"] == {"original": 10, "effective": 10}
    assert got["groups"]["xnli_reference"]["accuracy,none"] == pytest.approx(0.5)
    assert got["group_subtasks"]["xnli_reference"] == ["xnli_en_reference", "xnli_sw_reference"]
    assert got["maple"]["ci"]["xnli_en_reference"]["accuracy"] == [pytest.approx(0.4), pytest.approx(0.8)]
    assert got["config"]["random_seed"] == 1
    assert lm_eval_results("m/alpaca/r8-b16", rows, {}) == lm_eval_results("m/alpaca/r8-b16", rows, {})


def test_provenance_names_the_commit_and_works_outside_git(tmp_path):
    here = provenance()
    assert here["git_commit"] is None or len(here["git_commit"]) == 40
    assert provenance(str(tmp_path)) == {"git_commit": None, "git_dirty": None}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("a")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    import os

    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "x"], check=True, env={**os.environ, **env})
    clean = provenance.__wrapped__(str(tmp_path))
    assert clean["git_dirty"] is False and len(clean["git_commit"]) == 40
    (tmp_path / "f").write_text("b")
    assert provenance.__wrapped__(str(tmp_path))["git_dirty"] is True


def test_lm_evals_own_table_reads_the_layout(tmp_path):
    """lm-eval's make_table (its CLI's summary) on maple's file; skipped without lm_eval/pytablewriter."""
    utils = pytest.importorskip("lm_eval.utils")
    pytest.importorskip("pytablewriter")
    rows = [{"cell": "m/none/base", "task": "xnli", "language": "en", "protocol": "reference", "metric": "accuracy",
             "value": 0.25, "n": 4, "stderr": 0.25, "ci_low": 0.0, "ci_high": 0.75}]
    got = lm_eval_results("m/none/base", rows, {})
    table = utils.make_table(got)
    assert "xnli_en_reference" in table and "accuracy" in table and "0.25" in table
    assert "xnli_reference" in utils.make_table(got, "groups")


def test_holm_adjustment():
    got = stats.holm([0.01, 0.04, 0.03, float("nan"), 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 with m = 4: 0.04, 0.09, max(0.09, 0.08), 0.5
    assert got[0] == pytest.approx(0.04) and got[2] == pytest.approx(0.09) and got[1] == pytest.approx(0.09)
    assert got[4] == pytest.approx(0.5) and math.isnan(got[3])
    assert np.all(stats.holm([0.9, 0.8]) <= 1.0)
