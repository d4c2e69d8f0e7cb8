"""`python -m maple.score`: one JSON summary on the last stdout line; bad input -> one stderr line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "metrics"
SHARED = ROOT.parent / "shared" / "data"


def run_score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maple.score", *args], cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def score(tmp_path, task, lang, protocol, rows, *extra) -> dict:
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    return summary_of(run_score("--task", task, "--lang", lang, "--protocol", protocol, "--input", str(path), *extra))


def test_xquad_matches_the_official_script(tmp_path):
    cases = json.loads((DATA / "qa_cases.json").read_text(encoding="utf-8"))["squad"]
    official = json.loads((DATA / "official_outputs.json").read_text(encoding="utf-8"))["squad"]["aggregate"]
    rows = [{"prediction": c["prediction"], "references": c["references"]} for c in cases]
    out = score(tmp_path, "xquad", "de", "reference", rows)
    assert set(out) == {"n", "f1", "exact_match"} and out["n"] == len(cases)
    assert abs(out["f1"] - official["f1"] / 100) < 1e-6
    assert abs(out["exact_match"] - official["exact_match"] / 100) < 1e-6


def test_mlqa_zh_both_protocols(tmp_path):
    rows = [{"prediction": "黑豹队的防守", "references": ["黑豹队"]}, {"prediction": "《黑豹队》", "references": ["黑豹队"]}]
    ref = score(tmp_path, "mlqa", "zh", "reference", rows)
    mega = score(tmp_path, "mlqa", "zh", "megaverse", rows)
    assert ref == {"n": 2, "f1": pytest.approx((2 / 3 + 1) / 2), "exact_match": 0.5}
    assert mega["f1"] < ref["f1"]


def test_xlsum_thai_and_stem_flag(tmp_path):
    rows = [{"prediction": "นักวิจัยชี้เสียงนกร้องช่วงล็อกดาวน์มีคุณภาพ", "references": ["นักวิจัยชี้เสียงนกร้องมีคุณภาพมากขึ้น"]}]
    out = score(tmp_path, "xlsum", "thai", "reference", rows)
    assert set(out) == {"n", "rougeL"} and 0 < out["rougeL"] < 1
    hindi = [{"prediction": "भारत ने मैच जीतेंगे", "references": ["भारत ने मैच जीता"]}]
    assert score(tmp_path, "xlsum", "hindi", "reference", hindi, "--stem")["rougeL"] >= \
        score(tmp_path, "xlsum", "hindi", "reference", hindi)["rougeL"]
    zh = [{"prediction": "黑豹队的防守只丢了308分", "references": ["黑豹队的防守只丢了很少分"]}]
    assert score(tmp_path, "xlsum", "chinese_simplified", "megaverse", zh)["rougeL"] > 0


def test_classification_accuracy(tmp_path):
    rows = [{"prediction": "True", "label": 0}, {"prediction": "t", "label": 0}, {"prediction": 2, "label": 2}]
    assert score(tmp_path, "xnli", "en", "reference", rows) == {"n": 3, "accuracy": pytest.approx(2 / 3)}
    assert score(tmp_path, "xnli", "en", "megaverse", rows) == {"n": 3, "accuracy": 1.0}
    rows = [{"prediction": 1, "label": 1}, {"prediction": "A", "label": 1}]
    assert score(tmp_path, "belebele", "tha_Thai", "reference", rows) == {"n": 2, "accuracy": 0.5}


def test_examples_file(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "q1", "prediction": "Paris", "references": ["Paris"]}])
    out = tmp_path / "examples.jsonl"
    summary_of(run_score("--task", "xquad", "--lang", "en", "--protocol", "megaverse", "--input", str(path),
                         "--examples", str(out)))
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "id": "q1", "prediction": "Paris", "score": {"exact_match": 1.0, "f1": 1.0}}


def test_real_xquad_golds_score_one(tmp_path):
    path = SHARED / "xquad" / "validation.zh.jsonl"
    if not path.is_file():
        pytest.skip(f"no {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = [{"prediction": r["answers"]["text"][0], "references": r["answers"]["text"]} for r in rows]
    assert score(tmp_path, "xquad", "zh", "reference", data) == {"n": len(rows), "f1": 1.0, "exact_match": 1.0}


def _bad(tmp_path, rows, *args, lang="en", task="xquad") -> str:
    path = tmp_path / "in.jsonl"
    if rows is not None:
        path.write_text(rows, encoding="utf-8")
    argv = args or ("--task", task, "--lang", lang, "--protocol", "reference", "--input", str(path))
    proc = run_score(*argv)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_missing_file(tmp_path):
    assert "no such file" in _bad(tmp_path, None)


def test_empty_file(tmp_path):
    assert "empty" in _bad(tmp_path, "\n\n")


def test_malformed_json_line(tmp_path):
    line = _bad(tmp_path, '{"prediction": "a", "references": ["a"]}\n{"prediction": "a", \n')
    assert "line 2" in line and "malformed JSON" in line


def test_missing_field_names_the_line(tmp_path):
    line = _bad(tmp_path, '{"prediction": "a", "references": ["a"]}\n\n{"prediction": "b"}\n')
    assert "line 3" in line and "references" in line


def test_unknown_task(tmp_path):
    assert "unknown task 'squad'" in _bad(tmp_path, '{"prediction": "a", "references": ["a"]}\n', task="squad")


def test_unknown_language(tmp_path):
    assert "unknown language 'fr' for mlqa" in _bad(
        tmp_path, '{"prediction": "a", "references": ["a"]}\n', task="mlqa", lang="fr")
    assert "unknown language 'th' for xlsum" in _bad(
        tmp_path, '{"prediction": "a", "references": ["a"]}\n', task="xlsum", lang="th")


def test_bad_arguments(tmp_path):
    assert "required" in _bad(tmp_path, None, "--task", "xquad")
    assert "invalid choice" in _bad(tmp_path, None, "--task", "xquad", "--lang", "en", "--protocol", "official",
                                    "--input", "x.jsonl")


def test_import_is_light():
    code = "import sys, maple.score; bad = {'torch', 'transformers', 'multilingual_rouge'} & set(sys.modules); print(bad)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "set()"


def test_belebele_megaverse_cli_is_parse_pred(tmp_path):
    """`python -m maple.score --task belebele --protocol megaverse` on raw-output records gives exactly
    MEGAVERSE's parse_pred accuracy (oracle: its code, excerpted verbatim), --lang optional, file or stdin."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mv", DATA / "official" / "megaverse_excerpts.py")
    mv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mv)
    outputs = ["Answer: (C)", "(A) (B) (C) (D)", "The correct answer is (D)", "Option 2", "c", "(B) 1", "B", "",
               "D. The passage says 3 times", "The answer is B", "(C)", "Both B and D", "4", "nothing"]
    golds = [2, 1, 3, 1, 2, 1, 1, 0, 3, 1, 2, 3, 3, 0]  # 0-based, as the workflow's records hold them
    rows = [{"id": f"q{i}", "output": o, "gold": g, "choices": ["(A)", "(B)", "(C)", "(D)"]}
            for i, (o, g) in enumerate(zip(outputs, golds))]
    expected = sum(mv.belebele_match(o, g + 1) for o, g in zip(outputs, golds)) / len(rows)
    assert 0 < expected < 1
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    out = summary_of(run_score("--task", "belebele", "--protocol", "megaverse", "--input", str(path)))
    assert out == {"n": len(rows), "accuracy": pytest.approx(expected, abs=1e-12)}
    piped = subprocess.run([sys.executable, "-m", "maple.score", "--task", "belebele", "--protocol", "megaverse"],
                           cwd=ROOT, input=path.read_text(encoding="utf-8"), capture_output=True, text=True,
                           encoding="utf-8", timeout=300)
    assert summary_of(piped) == out
    # a language-dependent task still needs --lang
    proc = run_score("--task", "xquad", "--protocol", "megaverse", "--input", str(path))
    assert proc.returncode == 2 and "--lang is required" in proc.stderr
def test_intervals_flag_adds_stderr_and_ci(tmp_path):
    rows = [{"prediction": 0, "label": 0}, {"prediction": 1, "label": 0}, {"prediction": 0, "label": 0},
            {"prediction": 2, "label": 0}]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["--task", "xnli", "--lang", "en", "--protocol", "reference", "--input", str(path), "--intervals"]
    out = subprocess.run([sys.executable, "-m", "maple.score", *args], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["accuracy"] == 0.5 and got["stderr"]["accuracy"] == pytest.approx((0.25 / 3) ** 0.5)
    low, high = got["ci"]["accuracy"]
    assert 0 <= low <= 0.5 <= high <= 1


def test_options_it_cannot_use_are_refused(tmp_path):
    rows = '{"prediction": 1, "label": 1}\n'
    base = ("--task", "xnli", "--lang", "en", "--protocol", "megaverse", "--input", str(tmp_path / "in.jsonl"))
    for extra, needle in (
        (("--stem",), "--stem applies to --task xlsum --protocol reference only"),
        (("--resamples", "50"), "--resamples applies to --intervals only"),
        (("--intervals", "--resamples", "0"), "--resamples: 0 is below the minimum of 10"),
        (("--examples", "/nonexistent/dir/x.jsonl"), "--examples: folder /nonexistent/dir does not exist"),
    ):
        assert needle in _bad(tmp_path, rows, *base, *extra)
