"""python -m maple.plan, and every paper prompt shape fitting with Mistral-7B-v0.1's own tokenizer."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maple.plan.tokenizer import mistral_v1_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PAPER = ROOT / "config" / "paper.yaml"
MISTRAL = mistral_v1_model()
needs_mistral = pytest.mark.skipif(MISTRAL is None, reason="mistral-common (installed with vllm) is absent")
KEYS = {"requests", "max_model_len", "max_new_tokens", "prompt_tokens_median", "prompt_tokens_max",
        "shots_min", "shots_max", "truncated", "over_limit"}


def plan(*args):
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "maple.plan", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def qa_row(i: int, words: int) -> dict:
    return {"id": f"q{i}", "title": "t", "context": " ".join(f"w{k}" for k in range(words)),
            "question": f"Question {i}?", "answers": {"text": ["w1"], "answer_start": [3]}}


@needs_mistral
def test_cli_exact_form(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(qa_row(i, 150 + 700 * (i % 3))) + "\n" for i in range(9)), encoding="utf-8")
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", MISTRAL, "--task", "mlqa",
               "--lang", "de", "--eval-rows", str(rows), "--protocol", "megaverse")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert KEYS <= set(result)
    assert result["requests"] == 9 and result["max_model_len"] == 4096 and result["over_limit"] == 0
    from maple.tasks import get_task

    assert result["max_new_tokens"] == get_task("mlqa").max_new_tokens  # the spec's: the config sets none
    assert result["shots_min"] < result["shots_max"]  # long passages cost shots, short ones keep them
    assert result["prompt_tokens_max"] + result["max_new_tokens"] <= 4096
    # one engine computes the 8 shots once: later prompts reuse them from the prefix cache
    assert result["unique_requests"] == 9 and 0 < result["prefill_tokens_after_cache"] < result["prefill_tokens"]


@needs_mistral
@pytest.mark.parametrize("args, needle", [
    (["--task", "xquad", "--lang", "de", "--eval-rows", "/nonexistent.jsonl"], "--eval-rows"),
    (["--task", "nope", "--lang", "de", "--eval-rows", "{rows}"], "unknown task"),
    (["--task", "xquad", "--lang", "de", "--eval-rows", "{rows}", "--protocol", "x"], "--protocol"),
    (["--task", "xquad", "--lang", "de", "--eval-rows", "{bad}"], "bad.jsonl line 1: no field 'context'"),
    (["--task", "xquad", "--lang", "de"], "--eval-rows"),
    (["--task", "xlsum", "--lang", "th", "--eval-rows", "{rows}"], "'th'"),  # the workflow's code is thai
    (["--task", "xquad", "--lang", "xx", "--eval-rows", "{rows}"], "'xx'"),
    (["--data-dir", "/nonexistent/data"], "--data-dir: /nonexistent/data is not a directory"),
    (["--data-dir", "{empty}"], "--data-dir: no rows under"),
    (["--data-dir", "{th}"], "unknown language 'th' for xlsum"),  # rows files use the workflow's codes
    (["--data-dir", "{holed}"], "xnli/test.de.jsonl line 2: no field 'hypothesis'"),
    (["--model", "mistral-8b", "--data-dir", "{empty}"], "--model: 'mistral-8b'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(qa_row(0, 10)) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no context here"}) + "\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "th" / "xlsum").mkdir(parents=True)
    (tmp_path / "th" / "xlsum" / "test.th.jsonl").write_text(json.dumps({"text": "t", "summary": "s"}) + "\n")
    (tmp_path / "holed" / "xnli").mkdir(parents=True)
    xnli = [{"premise": "p", "hypothesis": "h", "label": 0}, {"premise": "p", "label": 1}]
    (tmp_path / "holed" / "xnli" / "test.de.jsonl").write_text("".join(json.dumps(r) + "\n" for r in xnli))
    args = [a.format(rows=rows, bad=bad, empty=tmp_path / "empty", th=tmp_path / "th", holed=tmp_path / "holed")
            for a in args]
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", MISTRAL, *args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr


def test_bad_tokenizer_is_one_line(tmp_path):
    junk = tmp_path / "tok.model"
    junk.write_bytes(b"not a model")
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", str(junk), "--task", "xquad",
               "--lang", "de", "--eval-rows", str(junk))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "--tokenizer" in out.stderr


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_every_paper_prompt_fits_with_the_real_tokenizer():
    """Every request shape of config/paper.yaml (its shot counts and token limits, both protocols) for
    every task and language ../shared/data covers, with its real rows: prompt + max_new_tokens fits."""
    from maple.plan import grid_cost
    from maple.plan.cli import make_budget

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    budget = make_budget(cfg, "mistral-7b", MISTRAL)
    rows = grid_cost.task_rows(cfg, "mistral-7b", budget, str(SHARED))
    covered = {(r["task"], r["protocol"]) for r in rows}
    for task in ("xnli", "xcopa", "xquad", "mlqa", "belebele", "xlsum", "alpaca_eval"):
        assert {(task, "megaverse"), (task, "reference")} <= covered, task
    # every language with rows in ../shared/data, in the config or not (Belebele's Burmese and Tamil)
    assert {"mya_Mymr", "tam_Taml"} <= {r["lang"] for r in rows if r["task"] == "belebele"}
    assert len(rows) >= 50
    for r in rows:
        assert r["over_limit"] == 0 and r["failed"] == 0, r
        assert r["prompt_tokens_max"] + r["max_new_tokens"] <= 4096
    # the measured lengths of the issue: XL-Sum's 4 shots never fit 4096 with Thai or Tamil articles
    thai = next(r for r in rows if (r["task"], r["lang"]) == ("xlsum", "thai"))
    assert thai["fewer_shots"] == thai["requests"] and thai["truncated"] > 0


def test_measured_train_rates_scale_the_full_depth_row_by_the_cells(tmp_path):
    """The plan's training rates from GPU benchmark files when anchors.yaml cites them."""
    import json

    from maple.plan.grid_cost import anchors, measured_train_rates

    a = anchors()
    assert measured_train_rates({**a, "train_measured": None}, "llama-2-7b") is None
    spec = {"full_depth": "r/full_{model}.json", "cells": "r/cells.json"}
    assert measured_train_rates({**a, "train_measured": spec}, "llama-2-7b", root=tmp_path) is None  # files absent
    (tmp_path / "r").mkdir()
    rows = [{"impl": "maple", "bits": b, "rank": r, "tokens_per_s": t}
            for b, r, t in [(4, 8, 40000.0), (4, 128, 30000.0), (16, 8, 50000.0)]]
    rows.append({"impl": "plain", "bits": 4, "rank": 8, "tokens_per_s": 1.0})
    (tmp_path / "r" / "cells.json").write_text(json.dumps({"rows": rows}))
    (tmp_path / "r" / "full_llama-2-7b.json").write_text(
        json.dumps({"rows": [{"impl": "maple", "bits": 4, "rank": 8, "tokens_per_s": 10000.0}]}))
    rates = measured_train_rates({**a, "train_measured": spec}, "llama-2-7b", root=tmp_path)
    assert rates == {4: {8: 10000.0, 128: 7500.0}, 16: {8: 12500.0}}
    assert measured_train_rates({**a, "train_measured": spec}, "mistral-7b", root=tmp_path) is None


@needs_mistral
def test_missing_data_dir_is_an_error(tmp_path):
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", MISTRAL,
               "--data-dir", str(tmp_path / "nope"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "--data-dir" in out.stderr


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_whole_config_plan_fields_and_cache(tmp_path):
    """The grid plan's JSON: generation per cell and for the grid, training from measured rows (a
    results file given), engine loads per mode; the cache saving is measured, not assumed."""
    from maple import grid

    results = tmp_path / "train.json"
    results.write_text(json.dumps({"device": "X", "layers": 8, "rows": [
        {"impl": "plain", "bits": 16, "rank": 8, "tokens_per_s": 1.0},
        {"impl": "maple", "bits": 16, "rank": 8, "tokens_per_s": 40000.0},
        {"impl": "maple", "bits": 4, "rank": 8, "tokens_per_s": 40000.0},
        {"impl": "maple", "bits": 8, "rank": 8, "tokens_per_s": 40000.0}]}), encoding="utf-8")
    train = sorted(str(p) for p in (SHARED / "alpaca_gpt4_demo").glob("*.jsonl"))
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", MISTRAL, "--data-dir", str(SHARED),
               *[a for f in train for a in ("--train-rows", f)], "--train-throughput", str(results),
               "--markdown", str(tmp_path / "cost.md"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    cell, full = result["generation_per_cell"], result["generation_grid"]
    for g in (cell, full):
        assert {"requests", "prefill_tokens", "prefill_tokens_after_cache", "decode_tokens_max", "gpu_hours_range"} <= set(g)
        assert 0 < g["prefill_tokens_after_cache"] < g["prefill_tokens"]
        low, high = g["gpu_hours_range"]
        assert 0 < low < high
    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    cells = [c for c in grid.eval_cells(cfg) if c.model == "mistral-7b"]
    assert full["cells"] == len(cells) and full["requests"] == cell["requests"] * len(cells)
    # config/paper.yaml generates a cell's seven tasks in one job (evaluation.task_groups): one load a cell;
    # in multi_lora the 16-bit cells' rank groups still load once per task
    assert cfg["evaluation"]["task_groups"] == [list(cfg["evaluation"]["tasks"])]
    assert full["engine_loads"]["merged"] == len(cells)
    assert full["engine_loads"]["multi_lora"] > full["engine_loads"]["merged"]
    # merge_adapter is a GPU job of every trained cell served merged: all 60 in merged mode; in multi_lora
    # only the 4/8-bit cells, whose base is not the precision they were trained at (tests/test_grid.py: the
    # paper config's snakemake -n holds 120 and 80 merge_adapter jobs for its two models)
    trained = [c for c in cells if not c.is_base]
    merges = result["merge_grid"]
    assert merges["jobs"] == {"merged": len(trained),
                              "multi_lora": sum(1 for c in trained if c.bits in (4, 8))} == {"merged": 60, "multi_lora": 40}
    assert merges["gpu_hours_range"] == [round(2 * 60 * 30 / 3600, 1), round(2 * 60 * 60 / 3600, 1)]
    assert {"stage": "merge adapters", "jobs": 60, "gpu_hours": "1.0-2.0"} in result["stages"]
    # a request is counted once per distinct (prompt, decoding limits): XNLI's two protocols share every
    # one (reference takes megaverse's prompt and first-line stop, specs.XNLI), so it is sent once
    xnli = [r for r in result["rows"] if r["task"] == "xnli"]
    assert xnli and all(r["unique_requests"] == (r["requests"] if r["protocol"] == "megaverse" else 0) for r in xnli)
    assert all(r["unique_requests"] <= r["requests"] for r in result["rows"])
    n_protocols = len(cfg["evaluation"]["protocols"])  # each protocol its own prompts
    assert cell["per_task"]["xnli"]["requests"] == 5010 * len(cfg["evaluation"]["tasks"]["xnli"]["languages"]) * n_protocols
    # shots are shared: XNLI keeps a small part of its prompt tokens, an XL-Sum article most of its own
    per_task = cell["per_task"]
    assert per_task["xnli"]["requests"] == 2 * per_task["xnli"]["requests_sent"] == 150300
    assert per_task["xnli"]["decode_tokens_max"] == 100 * per_task["xnli"]["requests_sent"]
    assert per_task["xnli"]["prefill_tokens_after_cache"] < 0.3 * per_task["xnli"]["prefill_tokens"]
    # XL-Sum's, XQuAD's and Belebele's reference outputs are megaverse's cut at "\n\n" (the same prompt;
    # maple.generate.order.stop_derivations): scored, never sent, so each article is sent once and an
    # article prompt keeps most of its tokens. MLQA's reference reads other rows (test, not validation)
    for task in ("xlsum", "xquad", "belebele"):
        task_rows = [r for r in result["rows"] if r["task"] == task]
        assert task_rows and all(r["unique_requests"] == (r["requests"] if r["protocol"] == "megaverse" else 0)
                            for r in task_rows), task
        assert per_task[task]["requests"] == 2 * per_task[task]["requests_sent"], task
    mlqa = [r for r in result["rows"] if r["task"] == "mlqa"]
    assert {r["protocol"] for r in mlqa} == {"megaverse", "reference"} and all(r["unique_requests"] > 0 for r in mlqa)
    assert cell["requests_sent"] < cell["requests"] and full["requests_sent"] == cell["requests_sent"] * len(cells)
    assert per_task["xlsum"]["prefill_tokens_after_cache"] > 0.35 * per_task["xlsum"]["prefill_tokens"]
    # XL-Sum: the first 1,000 test articles, or all of a smaller split (19 of MEGAVERSE's 35 languages)
    xlsum_rows = yaml.safe_load((ROOT / "maple" / "plan" / "anchors.yaml").read_text())["split_rows"]["xlsum"]["megaverse"]
    assert per_task["xlsum"]["requests_sent"] == sum(xlsum_rows[lang] for lang in cfg["evaluation"]["tasks"]["xlsum"]["languages"]) == 29_562
    assert cell["decode_tokens_expected"] < cell["decode_tokens_max"]
    # the high end's hours by task add up to the cell's (each rounded to 0.01 h); XL-Sum's articles lead
    by_task = cell["gpu_hours_high_by_task"]
    assert set(by_task) == set(per_task)
    assert sum(by_task.values()) == pytest.approx(cell["gpu_hours_range"][1], abs=0.01 * len(by_task))
    assert max(by_task, key=by_task.get) == "xlsum"
    # prefill is counted in FLOPs: MLQA's uncached question and answer sit after a ~3,300-token cached
    # passage, so its tokens go slower than XNLI's short prompts' at the same FLOP rate; each task's
    # effective rate is that FLOP rate over its FLOPs per token, the peak's by the same ratio
    prefill = cell["rates"]["prefill_tokens_per_s"]
    assert set(prefill["per_task"]) == set(per_task)
    assert prefill["per_task"]["mlqa"]["high"] < 0.95 * prefill["per_task"]["xnli"]["high"]
    assert prefill["published_flops_per_s"] == max(prefill["published_lower_bounds"].values())
    assert prefill["bound_flops_per_s"] == 796e12
    for task, r in prefill["per_task"].items():
        assert r["high"] / r["low"] == pytest.approx(prefill["published_flops_per_s"] / 796e12, rel=1e-3), task
        assert r["high"] < prefill["published_flops_per_s"] / (2 * result["model_shape"]["body_params"]), task
    # the cell's tokens/s is its tokens over the sum of the tasks' seconds
    tokens = {t: v["prefill_tokens_after_cache"] + v["loglik_tokens"] for t, v in per_task.items()}
    assert sum(tokens.values()) / prefill["published"] == pytest.approx(
        sum(tokens[t] / r["high"] for t, r in prefill["per_task"].items()), rel=1e-3)
    # before its engine steps a job gets every sent prompt's ids, its GPU held: on CUDA it reads what
    # build_requests stored, at its measured rate; at the high end, not the low
    ids = cell["rates"]["job_prompt_ids"]
    anchors = yaml.safe_load((ROOT / "maple" / "plan" / "anchors.yaml").read_text())["generation"]
    assert cfg["device"] == "cuda" and ids["anchor"] == "job_read_tokens_per_s"
    assert ids["tokens_per_s"] == round(anchors["job_read_tokens_per_s"]) > anchors["job_tokenize_tokens_per_s"]
    assert cell["job_prompt_ids_seconds"] == round(
        (cell["prefill_tokens"] + cell["loglikelihood"]["prompt_tokens_uncached"]) / ids["tokens_per_s"])
    assert cell["job_prompt_ids_seconds"] > 0 and "job_read_tokens_per_s" in cell["gpu_hours_basis"]
    # training from the results file: 40,000 tokens/s at 8 layers, scaled to Mistral-7B by FLOPs per token
    training = result["training_grid"]
    assert training["file"] == str(results) and training["gpu_hours"] > 0
    rate = result["cells"][0]["train_tokens_per_s"]
    assert rate == round(40000 * (8 * 202.4e6 + 131e6) / 7.11e9)
    # the cost document is the plan's output: its command and figures, nothing else
    doc = (tmp_path / "cost.md").read_text(encoding="utf-8")
    assert "python -m maple.plan --configfile" in doc and f"{full['gpu_hours_range'][0]}-{full['gpu_hours_range'][1]}" in doc
    assert f"{training['gpu_hours']} GPU-hours" in doc


def test_bad_configfile_is_the_workflows_one_line(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text(PAPER.read_text() + "seed: 1\n")
    for path, needle in ((dup, f"{dup}, line"), (tmp_path / "none.yaml", "does not exist")):
        out = plan("--configfile", str(path), "--model", "mistral-7b", "--tokenizer", "x", "--data-dir", str(tmp_path))
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr, out.stderr


@needs_mistral
@pytest.mark.skipif(not (SHARED / "xlsum").is_dir(), reason="../shared/data/xlsum absent")
def test_plan_counts_derived_requests_only_on_a_backend_that_derives(tmp_path):
    """XL-Sum's reference outputs are cut from megaverse's on vLLM (not sent); the HF backend generates
    them (HfBackend.derives_stops): the plan follows the configured backend."""
    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    cfg["evaluation"]["tasks"] = {"xlsum": cfg["evaluation"]["tasks"]["xlsum"]}
    sent = {}
    for backend in ("vllm", "hf"):
        cfg["evaluation"]["backend"] = backend
        path = tmp_path / f"{backend}.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        out = plan("--configfile", str(path), "--model", "mistral-7b", "--tokenizer", MISTRAL, "--data-dir", str(SHARED))
        assert out.returncode == 0, out.stderr
        task = json.loads(out.stdout.strip().splitlines()[-1])["generation_per_cell"]["per_task"]["xlsum"]
        sent[backend] = task
    assert sent["vllm"]["requests"] == sent["hf"]["requests"] == 2 * sent["vllm"]["requests_sent"]
    assert sent["hf"]["requests_sent"] == sent["hf"]["requests"]
    assert sent["hf"]["decode_tokens_max"] == 2 * sent["vllm"]["decode_tokens_max"]


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_max_examples_caps_the_planned_requests(tmp_path):
    """evaluation.max_examples, the workflow's cap per task x language x protocol, is the plan's too."""
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["evaluation"]["max_examples"] = 100
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = plan("--configfile", str(tmp_path / "c.yaml"), "--model", "mistral-7b", "--tokenizer", MISTRAL,
               "--data-dir", str(SHARED), "--markdown", str(tmp_path / "cost.md"))
    assert out.returncode == 0, out.stderr
    cell = json.loads(out.stdout.strip().splitlines()[-1])["generation_per_cell"]
    # every split here has at least 100 rows: 100 per language and protocol of each task
    languages = sum(len(t["languages"]) for t in cfg["evaluation"]["tasks"].values())
    assert cell["max_examples"] == 100 and cell["requests"] == 100 * 2 * languages == 23_800
    assert "At most 100 rows per task, language and protocol" in (tmp_path / "cost.md").read_text()


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_a_protocol_without_its_split_uses_another_splits_rows_and_a_task_without_rows_is_said(tmp_path):
    """MLQA's reference protocol scores test rows; with only validation rows and no other protocol, those
    rows under the reference prompts stand in (it was left out). A task with no rows at all is named on
    stderr and in the JSON, not planned at zero silently."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(SHARED, data)
    shutil.rmtree(data / "xlsum")
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["evaluation"]["protocols"] = ["reference"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = plan("--configfile", str(tmp_path / "c.yaml"), "--model", "mistral-7b", "--tokenizer", MISTRAL,
               "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    cell = json.loads(out.stdout.strip().splitlines()[-1])["generation_per_cell"]
    test_rows = sum(yaml.safe_load((ROOT / "maple" / "plan" / "anchors.yaml").read_text())["split_rows"]["mlqa"]
                    ["reference"].values())
    assert cell["per_task"]["mlqa"]["requests"] == test_rows == 42_245
    assert "mlqa/reference (another split's rows under its own prompts)" in cell["unmeasured"]
    assert cell["not_planned"] == ["xlsum/reference"] and "xlsum" not in cell["per_task"]
    assert "left out of every figure: xlsum/reference" in out.stderr and "no rows under --data-dir" in out.stderr


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_the_local_judge_is_its_own_stage_and_an_api_judge_costs_no_gpu(tmp_path):
    """maple.judge.judge_cells prefills each judge prompt three times (generation and the two letters'
    uncached log-probabilities), both orders of every scored AlpacaEval output: the plan's judge stage."""
    out = plan("--configfile", str(PAPER), "--model", "mistral-7b", "--tokenizer", MISTRAL, "--data-dir", str(SHARED))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    judge = result["generation_per_cell"]["judge"]
    scored = result["generation_per_cell"]["per_task"]["alpaca_eval"]["requests"]  # 805 per protocol
    assert judge["prompts"] == 2 * scored == 3220 and judge["prefills_per_prompt"] == 3
    # at most: every prompt fills 4,096 less the 8 reply tokens; a letter's request is one token longer
    assert judge["prefill_tokens_max"] == 3220 * (3 * 4088 + 2)
    assert 0 < judge["prefill_tokens_expected"] < judge["prefill_tokens_max"]
    low, high = judge["gpu_hours_range"]
    assert 0 < low < judge["gpu_hours_expected"] < high
    assert result["judge_grid"]["jobs"] == 61 and {"stage": "judge AlpacaEval (all cells)", "jobs": 61,
                                                    "gpu_hours": "-".join(map(str, result["judge_grid"]["gpu_hours_range"]))} \
        in result["stages"]
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["evaluation"]["judge"] = {"model": "mistral-7b-instruct", "api": "gpt-4", "annotator": None}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = plan("--configfile", str(tmp_path / "c.yaml"), "--model", "mistral-7b", "--tokenizer", MISTRAL,
               "--data-dir", str(SHARED))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["generation_per_cell"]["judge"] is None and result["judge_grid"] is None
    assert not any(s["stage"].startswith("judge") for s in result["stages"])


def test_xlsum_rows_are_the_first_1000_test_articles_or_the_whole_smaller_split():
    """anchors.yaml's XL-Sum sizes: min(1,000, test) from csebuetnlp/xl-sum's README (v2.0, the hub's
    release), for every config maple knows; e.g. Amharic 719, Kyrgyz / Scottish Gaelic / Sinhala 500 (their
    evaluation sets raised to 500), English 11,535 -> 1,000."""
    from maple.tasks.specs import TASKS, XLSUM

    split_rows = yaml.safe_load((ROOT / "maple" / "plan" / "anchors.yaml").read_text())["split_rows"]
    rows = split_rows["xlsum"]
    assert rows["megaverse"] == rows["reference"] and set(rows["megaverse"]) == set(XLSUM.languages)
    limit = XLSUM.protocol("megaverse").eval_limit
    assert all(0 < n <= limit for n in rows["megaverse"].values())
    assert {k: rows["megaverse"][k] for k in ("amharic", "kyrgyz", "scottish_gaelic", "sinhala", "english", "swahili")} == {
        "amharic": 719, "kyrgyz": 500, "scottish_gaelic": 500, "sinhala": 500, "english": 1000, "swahili": 987}
    # every per-language size table covers every language its task accepts (the plan names a missing one
    # in not_planned rather than count it 0, but a config can only hold the task's own languages)
    for task, by_protocol in split_rows.items():
        for protocol, sizes in by_protocol.items():
            if isinstance(sizes, dict):
                assert set(sizes) == set(TASKS[task].languages), (task, protocol)


@needs_mistral
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_the_published_runs_time_is_split_as_is_slowest_for_the_work(tmp_path):
    """The slow end's prefill and decode rates come from one run whose prefill and decode times share its
    duration (maple.plan.published_rates.rates_at): prefill-heavy work (the paper's tasks) is slowest where
    the run's prefill FLOP rate, drawn out, falls to the V1 engine's offline bound (past it the plan's prefill
    rate stays at that bound while the run's decoding only speeds up), decode-heavy work (AlpacaEval alone)
    with the run's prefill at the compute bound, which leaves its decoding the most time."""
    from maple.plan import prefill_flops, published_rates
    from maple.plan.grid_cost import anchors

    g = anchors()["generation"]
    run, offline = g["published_run"], g["published_prefill_run"]
    bounds = published_rates.token_bounds(run, offline, g["prefill_tokens_per_s"]["matmul_tflops"] * 1e12)
    bound, floor = bounds["compute_bound"], bounds["prefill_floor"]
    lo, hi = published_rates.prefill_seconds_range(run, bound, floor)
    v1 = prefill_flops.offline_flops_per_s(g["published_prefill_run_v1"])
    # the split where the run's prefill FLOP rate (its answered prompts' FLOPs over it) falls to the V1 bound,
    # inside the range
    crossing = prefill_flops.serving_prompt_flops(run) / v1
    assert lo < crossing < hi
    assert published_rates.rates_at(run, crossing, floor)["prefill"] * bounds["flops_per_token"] == pytest.approx(v1)
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["evaluation"]["max_examples"] = 100
    only_alpaca = {**cfg, "evaluation": {**cfg["evaluation"], "max_examples": None,
                                         "tasks": {"alpaca_eval": cfg["evaluation"]["tasks"]["alpaca_eval"]}}}
    for name, c, at in (("paper", cfg, crossing), ("alpaca", only_alpaca, lo)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(c))
        out = plan("--configfile", str(tmp_path / f"{name}.yaml"), "--model", "mistral-7b", "--tokenizer", MISTRAL,
                   "--data-dir", str(SHARED))
        assert out.returncode == 0, out.stderr
        rates = json.loads(out.stdout.strip().splitlines()[-1])["generation_per_cell"]["rates"]
        assert rates["run_prefill_s"]["range"] == [round(lo, 2), round(hi, 2)]
        assert rates["run_prefill_s"]["slowest_for_this_work"] == round(at, 2), name
        assert rates["decode_tokens_per_s"]["published"] == round(published_rates.rates_at(run, at, floor)["decode"])
        assert rates["prefill_tokens_per_s"]["published_flops_per_s"] == round(
            max(v1, published_rates.rates_at(run, at, floor)["prefill"] * bounds["flops_per_token"]))
