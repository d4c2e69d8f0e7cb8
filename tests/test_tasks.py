"""maple.tasks: registry, prompt building and answer extraction on the embedded evaluation sets
(resources/eval) and, when present, on the real subsets in ../shared/data (never copied here)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maple.tasks import TASKS, TaskDataError, UnknownTaskError, build_requests, extract_answer, get_task, wrap_prompt
from maple.tasks import extract
from maple.tasks.loading import local_configs
from maple.tasks.spec import MULTIPLE_CHOICE

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "resources" / "eval"
SHARED = ROOT.parent / "shared" / "data"
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
TASK_CFGS = CONFIG["evaluation"]["tasks"]
PROMPT_CFG = CONFIG["prompt"]
SEED = CONFIG["seed"]
PROTOCOLS = ("megaverse", "reference")
KEYS = {
    "task", "lang", "protocol", "id", "prompt", "prompt_sha1", "gold", "choices", "max_new_tokens", "stop",
    "shots", "shots_used", "tokens_truncated", "prompt_tokens", "failed",
}
# one marker per task that occurs once in every example of a prompt (shots + the query)
MARKERS = {
    "xnli": "True, False, or Neither?",
    "xcopa": "Help me pick the more plausible option:",
    "xquad": "Referring to the passage above",
    "mlqa": "Referring to the passage above",
    "belebele": "Passage:",
    "xlsum": "Write a summary of the text above :",
}

CASES = [(t, lang, p) for t, cfg in TASK_CFGS.items() for lang in cfg["languages"] for p in PROTOCOLS]


def embedded_cfg(task: str) -> dict:
    # the repo-relative source of config.yaml, made absolute so tests run from any directory
    return {**TASK_CFGS[task], "source": str(ROOT / TASK_CFGS[task]["source"])}


def perfect_output(request: dict) -> str:
    """What a model that knows the answer would generate."""
    if get_task(request["task"]).kind == MULTIPLE_CHOICE:
        return request["choices"][request["gold"]]
    return request["gold"][0]


def check_request(req: dict, task: str, lang: str, protocol: str) -> None:
    spec = get_task(task)
    assert KEYS <= set(req) and set(req) - KEYS <= {"instruction"}
    assert (req["task"], req["lang"], req["protocol"]) == (task, lang, protocol)
    assert req["prompt"].strip() and isinstance(req["id"], str)
    assert req["prompt_sha1"] == hashlib.sha1(req["prompt"].encode("utf-8")).hexdigest()
    assert isinstance(req["max_new_tokens"], int) and req["max_new_tokens"] > 0
    assert isinstance(req["stop"], list)
    if spec.kind == MULTIPLE_CHOICE:
        assert isinstance(req["gold"], int) and 0 <= req["gold"] < len(req["choices"])
        assert all(isinstance(c, str) and c for c in req["choices"])
    else:
        assert req["choices"] is None
        assert isinstance(req["gold"], list) and req["gold"] and all(isinstance(g, str) and g for g in req["gold"])
    json.dumps(req)  # the generation stage writes requests as JSONL


def check_extraction(req: dict) -> None:
    task, protocol = req["task"], req["protocol"]
    pred = extract_answer(task, protocol, perfect_output(req), req)
    if get_task(task).kind == MULTIPLE_CHOICE:
        assert pred == req["gold"]
    elif get_task(task).protocol(protocol).extract is extract.megaverse_answer:  # hf_model_completion drops a final "."
        assert pred == req["gold"][0].strip().strip(".")
    else:
        assert pred == req["gold"][0]
    for empty in ("", None, "\n\n", "   "):
        pred = extract_answer(task, protocol, empty, req)
        if get_task(task).kind == MULTIPLE_CHOICE:
            assert pred == -1 and pred != req["gold"]
        else:
            assert pred == ""


# --- registry --------------------------------------------------------------------------------

def test_registry_names_and_shape():
    assert list(TASKS) == ["xnli", "xcopa", "xquad", "mlqa", "belebele", "xlsum", "alpaca_eval"]
    for name, spec in TASKS.items():
        assert get_task(name) is spec and spec.name == name
        assert set(spec.protocols) == set(PROTOCOLS)
        for proto in spec.protocols.values():
            assert proto.metrics and proto.scorer
            assert proto.shots == 0 or proto.shot_split


def test_unknown_task_is_one_line_with_allowed_names():
    with pytest.raises(UnknownTaskError) as err:
        get_task("xstorycloze")
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg
    assert "xstorycloze" in msg and all(name in msg for name in TASKS)
    with pytest.raises(UnknownTaskError):
        build_requests("nope", "en", "megaverse", {}, SEED)


def test_unknown_protocol():
    with pytest.raises(ValueError, match="protocol"):
        build_requests("xnli", "en", "lm_eval", embedded_cfg("xnli"), SEED)


def test_protocol_splits_follow_protocol_md():
    def splits(task, protocol):
        p = get_task(task).protocols[protocol]
        return p.eval_split, p.shot_split, p.shots

    assert splits("xcopa", "megaverse") == ("validation", "validation", 8)
    assert splits("xcopa", "reference") == ("test", "validation", 8)
    assert splits("mlqa", "megaverse")[:2] == ("validation", "validation")
    assert splits("mlqa", "reference")[:2] == ("test", "validation")
    assert splits("xquad", "megaverse") == ("validation", "train", 8)
    assert get_task("xquad").protocols["megaverse"].shot_data.hub_id == "rajpurkar/squad"
    assert splits("xnli", "megaverse") == ("test", "train", 8)
    assert splits("belebele", "megaverse") == ("test", None, 0)
    assert splits("xlsum", "megaverse") == ("test", "train", 4)
    assert get_task("xlsum").protocols["megaverse"].eval_limit == 1000
    assert get_task("alpaca_eval").protocols["megaverse"].config == "alpaca_eval"
    assert get_task("alpaca_eval").protocols["reference"].config == "alpaca_eval_gpt4_baseline"
    quirks = (ROOT / "maple" / "tasks" / "specs.py").read_text(encoding="utf-8").count("# quirk:")
    assert quirks >= 7


def test_import_is_light():
    code = "import sys, maple.tasks; sys.exit(int('datasets' in sys.modules or 'torch' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_wrap_prompt_matches_training_template():
    assert wrap_prompt("Say hi.", PROMPT_CFG) == "### Instruction:\nSay hi.\n\n### Response:\n"
    with_input = "### Instruction:\nSum:\n\n### Input:\n1 2\n\n### Response:\n"
    assert wrap_prompt("Sum:", PROMPT_CFG, input="1 2") == with_input
    try:
        from maple.data.tokenise import format_prompt
    except ImportError:
        return
    ex = {"instruction": "Say hi. ", "input": ""}
    assert wrap_prompt(ex["instruction"], PROMPT_CFG) == format_prompt(ex, PROMPT_CFG)


# --- embedded data: every configured task, language and protocol --------------------------------

@pytest.mark.parametrize("task,lang,protocol", CASES)
def test_embedded_requests(task, lang, protocol):
    spec, proto = get_task(task), get_task(task).protocols[protocol]
    cfg = embedded_cfg(task)
    max_examples = CONFIG["evaluation"]["max_examples"]
    bare = build_requests(task, lang, protocol, cfg, SEED, max_examples=max_examples)
    wrapped = build_requests(task, lang, protocol, cfg, SEED, max_examples=max_examples, prompt_cfg=PROMPT_CFG)
    assert 0 < len(bare) <= max_examples and len(bare) == len(wrapped)
    assert len({r["id"] for r in bare}) == len(bare)
    for b, w in zip(bare, wrapped):
        check_request(b, task, lang, protocol)
        check_request(w, task, lang, protocol)
        assert (b["id"], b["gold"]) == (w["id"], w["gold"])
        assert w["prompt"].startswith("### Instruction:\n") and w["prompt"].endswith("### Response:\n")
        if proto.stop is None:
            assert "### Instruction:" in w["stop"] and "### Instruction:" not in b["stop"]
        else:  # a protocol's own stops (megaverse: none or the first line; XL-Sum/XNLI/XQuAD/Belebele
            # reference share megaverse's generation): the template's header never joins them
            assert w["stop"] == b["stop"] == list(proto.stop)
            assert "### Instruction:" not in w["stop"]
            if protocol == "megaverse":  # MEGAVERSE's HF path decodes without a blank-line stop
                assert "\n\n" not in w["stop"]
        if task in MARKERS:
            n_shots = int(cfg.get("shots", proto.shots))
            assert b["prompt"].count(MARKERS[task]) == n_shots + 1
        check_extraction(b)
    if task == "alpaca_eval":
        assert all(r["prompt"] == r["instruction"] for r in bare)


def test_embedded_full_split_sizes():
    # about 8 evaluation examples per split and language
    for task, cfg in TASK_CFGS.items():
        for lang in cfg["languages"]:
            for protocol in PROTOCOLS:
                n = len(build_requests(task, lang, protocol, embedded_cfg(task), SEED))
                assert n == 8, (task, lang, protocol, n)


def test_embedded_configs_cover_config_languages_and_splits():
    for task, cfg in TASK_CFGS.items():
        spec = get_task(task)
        configs = local_configs(str(ROOT / cfg["source"]))
        if cfg.get("data_files"):  # flat files named as on the hub (alpaca_eval): one file per config
            for proto in spec.protocols.values():
                name = cfg["data_files"].format(config=proto.config or spec.data.config, split=proto.eval_split)
                assert (ROOT / cfg["source"] / name).is_file(), (task, name)
            continue
        for lang in cfg["languages"]:
            for proto in spec.protocols.values():
                name = (proto.config or spec.data.config).format(lang=lang)
                eval_split, shot_split = proto.lang_splits.get(lang, (proto.eval_split, proto.shot_split))
                assert eval_split in configs[name], (task, name)
                if proto.shots and not proto.shot_data:
                    assert shot_split in configs[name], (task, name)
    # the second datasets: English SQuAD train for XQuAD shots, COPA for English XCOPA
    assert "train" in local_configs(str(EVAL / "squad"))["plain_text"]
    assert {"train", "validation"} <= set(local_configs(str(EVAL / "copa"))["copa"])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_embedded_schemas():
    for path in EVAL.rglob("*.jsonl"):
        rows = _rows(path)
        assert rows, path
        dataset = path.relative_to(EVAL).parts[0]
        for row in rows:
            if dataset in ("xquad", "mlqa", "squad"):
                ans = row["answers"]
                assert set(ans) == {"text", "answer_start"}
                for text, start in zip(ans["text"], ans["answer_start"]):
                    assert isinstance(start, int) and row["context"][start : start + len(text)] == text
            elif dataset == "xnli":
                assert set(row) == {"premise", "hypothesis", "label"} and row["label"] in (0, 1, 2)
            elif dataset in ("xcopa", "copa"):
                assert row["label"] in (0, 1) and row["question"] in ("cause", "effect")
                assert isinstance(row["idx"], int) and (dataset == "copa" or isinstance(row["changed"], bool))
            elif dataset == "belebele":
                assert isinstance(row["correct_answer_num"], str) and row["correct_answer_num"] in "1234"
                assert isinstance(row["question_number"], int) and row["dialect"] == path.parent.name
            elif dataset == "xlsum":
                assert set(row) == {"id", "url", "title", "summary", "text"}
            elif dataset == "alpaca_eval":
                assert set(row) == {"instruction", "output", "generator", "dataset"}


def test_english_xcopa_reads_copa():
    cfg = embedded_cfg("xcopa")
    ref = build_requests("xcopa", "en", "reference", cfg, SEED)
    meg = build_requests("xcopa", "en", "megaverse", cfg, SEED)
    assert len(ref) == len(meg) == 8
    # both protocols: COPA validation scored, shots from COPA train (MEGAVERSE's load_xcopa_dataset
    # reads super_glue copa's train split for English; only other languages fall back to validation)
    train_premises = {r["premise"] for r in _rows(EVAL / "copa" / "copa" / "train.jsonl")}
    val_premises = {r["premise"] for r in _rows(EVAL / "copa" / "copa" / "validation.jsonl")}
    for reqs in (ref, meg):
        head, *shots, query = reqs[0]["prompt"].split("\n\n")
        assert head == get_task("xcopa").instruction and len(shots) == 8
        assert all(any(p in s for p in train_premises) for s in shots)
        assert any(p in query for p in val_premises)
    # other languages, megaverse: shots from validation (XCOPA has no train split)
    zh = build_requests("xcopa", "zh", "megaverse", embedded_cfg("xcopa"), SEED)
    zh_val = {r["premise"] for r in _rows(EVAL / "xcopa" / "zh" / "validation.jsonl")}
    assert all(any(p in s for p in zh_val) for s in zh[0]["prompt"].split("\n\n")[1:-1])


def test_alpaca_eval_references_per_protocol():
    cfg = embedded_cfg("alpaca_eval")
    v1 = build_requests("alpaca_eval", "en", "megaverse", cfg, SEED, prompt_cfg=PROMPT_CFG)
    v2 = build_requests("alpaca_eval", "en", "reference", cfg, SEED, prompt_cfg=PROMPT_CFG)
    assert [r["instruction"] for r in v1] == [r["instruction"] for r in v2]
    assert all(a["gold"] != b["gold"] for a, b in zip(v1, v2))
    assert v1[0]["prompt"] == wrap_prompt(v1[0]["instruction"], PROMPT_CFG)
    assert v1[0]["stop"] == ["### Instruction:"]


# --- quirks in extraction --------------------------------------------------------------------

def _request(task: str, protocol: str, lang: str) -> dict:
    return build_requests(task, lang, protocol, embedded_cfg(task), SEED, max_examples=1)[0]


def test_xnli_extraction_quirk():
    meg, ref = _request("xnli", "megaverse", "en"), _request("xnli", "reference", "en")
    verb = meg["choices"][meg["gold"]]
    # megaverse: prediction and label containing one another counts
    assert extract_answer("xnli", "megaverse", verb[0].lower(), meg) == meg["gold"]
    assert extract_answer("xnli", "megaverse", f"I think it is {verb}.", meg) == meg["gold"]
    assert extract_answer("xnli", "megaverse", f"\n{verb}\nQuestion: ...", meg) == meg["gold"]
    # reference: the first line (or its first word) must be exactly a label word
    assert extract_answer("xnli", "reference", f"{verb}. Because ...", ref) == ref["gold"]
    assert extract_answer("xnli", "reference", f"I think it is {verb}.", ref) == -1
    assert extract_answer("xnli", "reference", verb[0], ref) == -1
    assert extract_answer("xnli", "megaverse", "banana", meg) == -1


def test_xcopa_extraction():
    meg, ref = _request("xcopa", "megaverse", "zh"), _request("xcopa", "reference", "zh")
    # megaverse: eval_cls.run_seq_eval's containment (MEGAVERSE's XCOPA ran sequentially), not startswith
    assert extract_answer("xcopa", "megaverse", "Choice 2.", meg) == -1  # "choice 2" and "choice2" contain neither
    assert extract_answer("xcopa", "megaverse", "choice1\n\nnext", meg) == 0
    assert extract_answer("xcopa", "megaverse", "I pick choice2", meg) == 1
    assert extract_answer("xcopa", "reference", "I pick choice2", ref) == 1
    assert extract_answer("xcopa", "reference", "2", ref) == 1
    assert extract_answer("xcopa", "reference", "none of them", ref) == -1


def test_belebele_extraction_quirk():
    meg, ref = _request("belebele", "megaverse", "tha_Thai"), _request("belebele", "reference", "tha_Thai")
    # megaverse: MEGAVERSE's parse_pred, A/1 then B/2, C/3, D/4, case-sensitive; reference: the first option named
    assert extract_answer("belebele", "megaverse", "Answer: (C)", meg) == 0  # the "A" of "Answer"
    assert extract_answer("belebele", "reference", "Answer: (C)", ref) == 2
    assert extract_answer("belebele", "megaverse", "(D) or maybe (B)", meg) == 1
    assert extract_answer("belebele", "reference", "(D) or maybe (B)", ref) == 3
    assert extract_answer("belebele", "megaverse", "c", meg) == -1
    assert extract_answer("belebele", "reference", "3", ref) == 2
    assert extract_answer("belebele", "reference", "คำตอบคือ", ref) == -1


def test_megaverse_instruction_heads_every_prompt():
    """MEGAVERSE's instruction (system turn) first; the shots and the query in the Alpaca Input block."""
    from maple.tasks import chat_layout
    from maple.tasks.prompts import MEGAVERSE_INSTRUCTIONS

    expected = {"xnli": "xnli", "xcopa": "xcopa", "xquad": "xquad", "mlqa": "xquad", "belebele": "belebele",
                "xlsum": "xlsum"}
    for task, key in expected.items():
        assert get_task(task).instruction == MEGAVERSE_INSTRUCTIONS[key]
        lang = TASK_CFGS[task]["languages"][0]
        for protocol in ("megaverse", "reference"):
            wrapped = build_requests(task, lang, protocol, embedded_cfg(task), SEED, max_examples=1, prompt_cfg=PROMPT_CFG)
            assert wrapped[0]["prompt"].startswith(f"### Instruction:\n{MEGAVERSE_INSTRUCTIONS[key]}\n\n### Input:\n")
            bare = build_requests(task, lang, protocol, embedded_cfg(task), SEED, max_examples=1)
            assert bare[0]["prompt"].startswith(MEGAVERSE_INSTRUCTIONS[key] + "\n\n")
    turns = chat_layout.messages("SYS", [("q1", "a1"), ("q2", "a2")], "q")
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert chat_layout.render(turns, PROMPT_CFG, " ", "\n\n") == (
        "### Instruction:\nSYS\n\n### Input:\nq1 a1\n\nq2 a2\n\nq\n\n### Response:\n")
    assert chat_layout.render(turns, None, "\n", "\n\n") == "SYS\n\nq1\na1\n\nq2\na2\n\nq\n"
    # AlpacaEval has no MEGAVERSE instruction: its instruction is the Instruction block itself
    assert get_task("alpaca_eval").instruction == ""


def test_megaverse_budgets_follow_its_scripts():
    """MLQA 8 shots (run_mlqa_all.sh -k 8), Belebele 25 new tokens (eval_belebele.py max_new_tokens=25)."""
    assert get_task("mlqa").protocols["megaverse"].shots == 8
    assert get_task("belebele").max_new_tokens == 25
    reqs = build_requests("belebele", "eng_Latn", "megaverse", embedded_cfg("belebele"), SEED, max_examples=1)
    assert reqs[0]["max_new_tokens"] == 25
    mlqa = build_requests("mlqa", "en", "megaverse", embedded_cfg("mlqa"), SEED, max_examples=1)
    assert mlqa[0]["prompt"].count(MARKERS["mlqa"]) == 9


def test_generative_extraction():
    qa = _request("xquad", "reference", "zh")
    assert extract_answer("xquad", "reference", "\n  大西洋 \nQ: next", qa) == "大西洋"
    summ = _request("xlsum", "megaverse", "thai")
    assert extract_answer("xlsum", "megaverse", "  สรุป  \n", summ) == "สรุป"


# --- determinism -----------------------------------------------------------------------------

def test_deterministic_under_seed():
    cfg = embedded_cfg("xquad")
    a = build_requests("xquad", "hi", "megaverse", cfg, 7, max_examples=3, prompt_cfg=PROMPT_CFG)
    b = build_requests("xquad", "hi", "megaverse", cfg, 7, max_examples=3, prompt_cfg=PROMPT_CFG)
    assert a == b
    others = [build_requests("xquad", "hi", "megaverse", cfg, s, max_examples=3) for s in (8, 9, 10)]
    assert any([r["id"] for r in o] != [r["id"] for r in a] for o in others)  # the subsample moves
    assert any(o[0]["prompt"] != a[0]["prompt"] for o in others)  # and so do the shots


def test_parallel_languages_share_items_and_shots():
    cfg = embedded_cfg("xquad")
    en = build_requests("xquad", "en", "reference", cfg, SEED, max_examples=3)
    th = build_requests("xquad", "th", "reference", cfg, SEED, max_examples=3)
    assert [r["id"] for r in en] == [r["id"] for r in th]
    # the shots (English SQuAD) are drawn per task, not per language: same prefix everywhere
    assert en[0]["prompt"][:300] == th[0]["prompt"][:300]


def test_deterministic_across_processes():
    code = (
        "import json, sys; from maple.tasks import build_requests; "
        f"cfg = {embedded_cfg('xnli')!r}; "
        "reqs = build_requests('xnli', 'sw', 'megaverse', cfg, 3, max_examples=4); "
        "print(json.dumps([r['prompt_sha1'] for r in reqs]))"
    )
    outs = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "HF_DATASETS_OFFLINE": "1"}
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        outs.add(run.stdout.strip().splitlines()[-1])
    assert len(outs) == 1


# --- errors ------------------------------------------------------------------------------------

def test_missing_language_names_task_language_and_configs():
    with pytest.raises(TaskDataError) as err:
        build_requests("xnli", "fr", "megaverse", embedded_cfg("xnli"), SEED)
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg
    assert "xnli" in msg and "'fr'" in msg and "en, de, sw, th, zh" in msg


def test_missing_split_names_splits():
    with pytest.raises(TaskDataError) as err:
        build_requests("mlqa", "de", "megaverse", {**embedded_cfg("mlqa"), "split": "train"}, SEED)
    msg = str(err.value)
    assert "\n" not in msg and "mlqa" in msg and "de" in msg and "validation, test" in msg


def test_missing_source_and_too_many_shots():
    with pytest.raises(TaskDataError, match="does not exist"):
        build_requests("xnli", "en", "megaverse", {"source": str(ROOT / "resources" / "eval" / "nope")}, SEED)
    with pytest.raises(TaskDataError, match="50 shots"):
        build_requests("xnli", "en", "megaverse", {**embedded_cfg("xnli"), "shots": 50}, SEED)
    with pytest.raises(TaskDataError, match="no few-shot split"):
        build_requests("belebele", "eng_Latn", "megaverse", {**embedded_cfg("belebele"), "shots": 2}, SEED)


def test_shots_override():
    reqs = build_requests("xnli", "de", "reference", {**embedded_cfg("xnli"), "shots": 2}, SEED)
    assert all(r["prompt"].count(MARKERS["xnli"]) == 3 for r in reqs)


# --- the tiny models' context: prompt + new tokens fit their 2,048 positions -----------------------

def test_embedded_prompts_fit_tiny_models():
    pytest.importorskip("tokenizers")
    pytest.importorskip("transformers")
    from maple.data.tiny_model import bundled_texts, train_tokenizer

    roots = [str(p) for p in (ROOT / "resources" / "data", EVAL) if p.is_dir()]
    vocab = CONFIG["models"]["tiny-llama"]["build"]["vocab_size"]
    tok = train_tokenizer(bundled_texts(roots), vocab)  # as the build_tiny_model rule trains it
    worst = 0
    for task, lang, protocol in CASES:
        for req in build_requests(task, lang, protocol, embedded_cfg(task), SEED, prompt_cfg=PROMPT_CFG):
            worst = max(worst, len(tok(req["prompt"])["input_ids"]) + req["max_new_tokens"])
    # 2,048: max_position_embeddings of the tiny models and the default max_model_len; MLQA's 8 shots
    # (MEGAVERSE's -k 8) and the task instructions are the longest prompts (~1,300 tokens)
    assert worst <= 2048 - 256, worst


# --- the real subsets in shared/data (flat JSONL, loaded in place via data_files) -------------------

def shared_cfg(task: str, **extra) -> dict:
    return {"source": str(SHARED / task), **extra}


SHARED_CASES = {
    # task: (languages, task_cfg, per-language overrides)
    "xnli": (["en", "sw", "ur"], shared_cfg("xnli", data_files="{split}.{lang}.jsonl", shot_split="validation")),
    "xnli-no-shots": (["de", "th"], shared_cfg("xnli", data_files="{split}.{lang}.jsonl", shots=0)),
    "xcopa": (["et", "sw", "ta", "th", "zh"], shared_cfg("xcopa", data_files="{split}.{lang}.jsonl")),
    "xquad": (
        ["en", "es", "hi", "zh", "ar", "th"],
        shared_cfg("xquad", data_files="{split}.{lang}.jsonl", sources={"squad": str(EVAL / "squad")}),
    ),
    # only validation exists here: the reference run reads it too
    "mlqa": (["de"], shared_cfg("mlqa", data_files="{split}.{lang}.{lang}.jsonl", split="validation")),
    "belebele": (
        ["eng_Latn", "zho_Hans", "tha_Thai", "mya_Mymr", "tam_Taml"],
        shared_cfg("belebele", data_files="{split}.{lang}.jsonl"),
    ),
    # the split is unknown (a sample): shots and evaluation both come from it
    "xlsum": (
        ["indonesian", "tamil", "thai", "vietnamese"],
        shared_cfg("xlsum", data_files={"test": "sample.{lang}.jsonl", "train": "sample.{lang}.jsonl"}),
    ),
    "alpaca_eval": (["en"], shared_cfg("alpaca_eval", data_files="{config}.{split}.jsonl")),
}


@pytest.mark.parametrize("case", list(SHARED_CASES))
def test_shared_data(case):
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    task = case.split("-")[0]
    langs, cfg = SHARED_CASES[case]
    for lang in langs:
        for protocol in PROTOCOLS:
            reqs = build_requests(task, lang, protocol, cfg, SEED, max_examples=5, prompt_cfg=PROMPT_CFG)
            assert len(reqs) == 5
            for req in reqs:
                check_request(req, task, lang, protocol)
                check_extraction(req)


def test_shared_data_values():
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    cfg = shared_cfg("belebele", data_files="{split}.{lang}.jsonl")
    reqs = build_requests("belebele", "eng_Latn", "reference", cfg, SEED)
    rows = _rows(SHARED / "belebele" / "test.eng_Latn.jsonl")
    assert [r["gold"] for r in reqs] == [int(row["correct_answer_num"]) - 1 for row in rows]
    cfg = shared_cfg("alpaca_eval", data_files="{config}.{split}.jsonl")
    v1 = build_requests("alpaca_eval", "en", "megaverse", cfg, SEED)
    v2 = build_requests("alpaca_eval", "en", "reference", cfg, SEED)
    first = _rows(SHARED / "alpaca_eval" / "alpaca_eval_gpt4_baseline.eval.jsonl")[0]
    assert v2[0]["gold"] == [first["output"]] and v1[0]["instruction"] == first["instruction"]
    # a missing flat file names what is there
    with pytest.raises(TaskDataError) as err:
        build_requests("xnli", "fr", "megaverse", shared_cfg("xnli", data_files="{split}.{lang}.jsonl"), SEED)
    assert "test.en.jsonl" in str(err.value) and "\n" not in str(err.value)


def test_protocols_sharing_splits_score_the_same_items():
    # the same items and golds; the prompts differ where megaverse takes MEGAVERSE's own shot draw and
    # prompt text (tests/test_megaverse_fidelity.py), and the decoding differs by the protocols' stops.
    # Reference-protocol choices (specs.py): XNLI's reference takes megaverse's prompt and stop (the same
    # requests, generated once); XQuAD's and Belebele's take megaverse's prompt with one stop "\n\n", so
    # their outputs are megaverse's cut there (maple.generate.order.stop_derivations); MLQA's reads other rows
    from maple.generate.order import stop_derivations

    for task, lang in (("xnli", "de"), ("xquad", "zh"), ("belebele", "hin_Deva")):
        meg = build_requests(task, lang, "megaverse", embedded_cfg(task), SEED, max_examples=3)
        ref = build_requests(task, lang, "reference", embedded_cfg(task), SEED, max_examples=3)
        assert [(r["id"], r["gold"]) for r in meg] == [(r["id"], r["gold"]) for r in ref]
        assert [(r["prompt_sha1"], r["max_new_tokens"]) for r in meg] == \
            [(r["prompt_sha1"], r["max_new_tokens"]) for r in ref], task
        if task == "xnli":
            assert [r["stop"] for r in meg] == [r["stop"] for r in ref]
        else:
            assert all(m["stop"] == [] and r["stop"] == ["\n\n"] for m, r in zip(meg, ref)), task
            assert stop_derivations(meg + ref) == {len(meg) + i: i for i in range(len(ref))}
    meg = build_requests("mlqa", "de", "megaverse", embedded_cfg("mlqa"), SEED, max_examples=3)
    ref = build_requests("mlqa", "de", "reference", embedded_cfg("mlqa"), SEED, max_examples=3)
    assert not {r["prompt"] for r in meg} & {r["prompt"] for r in ref} and not stop_derivations(meg + ref)
