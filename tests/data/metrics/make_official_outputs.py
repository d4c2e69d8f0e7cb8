"""Regenerate official_outputs.json: run the unmodified official scripts (official/) on qa_cases.json.

    python tests/data/metrics/make_official_outputs.py

Each case is also scored alone (a one-question dataset), which gives the per-example scores.
Scores are the scripts' own, on their 0..100 scale.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQUAD = HERE / "official" / "evaluate-v1.1.py"
MLQA = HERE / "official" / "mlqa_evaluation_v1.py"


def squad_format(cases: list[dict], version: str) -> tuple[dict, dict]:
    qas = [{"id": c["id"], "question": "?", "answers": [{"text": t, "answer_start": 0} for t in c["references"]]}
           for c in cases]
    dataset = {"version": version, "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}
    return dataset, {c["id"]: c["prediction"] for c in cases}


def run_official(script: Path, cases: list[dict], version: str, *extra: str) -> dict:
    dataset, predictions = squad_format(cases, version)
    with tempfile.TemporaryDirectory() as tmp:
        data_file, pred_file = Path(tmp) / "data.json", Path(tmp) / "pred.json"
        data_file.write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
        pred_file.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
        out = subprocess.run([sys.executable, "-W", "ignore", str(script), str(data_file), str(pred_file), *extra],
                             check=True, capture_output=True, text=True, encoding="utf-8")
    return json.loads(out.stdout.strip().splitlines()[-1])


def official_outputs(cases: dict) -> dict:
    result = {"squad": {"aggregate": run_official(SQUAD, cases["squad"], "1.1"),
                        "per_example": {c["id"]: run_official(SQUAD, [c], "1.1") for c in cases["squad"]}},
              "mlqa": {}}
    for lang, lang_cases in cases["mlqa"].items():
        result["mlqa"][lang] = {
            "aggregate": run_official(MLQA, lang_cases, "1.0", lang),
            "per_example": {c["id"]: run_official(MLQA, [c], "1.0", lang) for c in lang_cases},
        }
    return result


if __name__ == "__main__":
    cases = json.loads((HERE / "qa_cases.json").read_text(encoding="utf-8"))
    out = HERE / "official_outputs.json"
    out.write_text(json.dumps(official_outputs(cases), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
