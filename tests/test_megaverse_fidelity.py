"""The paper config and report against MEGAVERSE's own lists (microsoft/MEGAVERSE@c7ffb70)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from conftest import shared_files

from maple.report import languages as L
from maple.tasks import get_task

ROOT = Path(__file__).resolve().parent.parent
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text(encoding="utf-8"))
TASKS = PAPER["evaluation"]["tasks"]

# hf_scripts/mistral_2_scripts/run_xlsum.sh, the `for lang in` list
MEGAVERSE_XLSUM = """english swahili tamil thai russian portuguese arabic hindi igbo indonesian urdu kyrgyz oromo
amharic azerbaijani burmese chinese_simplified welsh kirundi hausa scottish_gaelic nepali pashto persian pidgin
serbian_cyrillic serbian_latin sinhala somali tigrinya turkish ukrainian uzbek vietnamese yoruba""".split()
# the paper's Figure 3 groups 1-2: MultiAlpaca's 11 and Bactrian-X-22's other 11 (config/paper.yaml datasets)
GROUPS_12 = """arb_Arab deu_Latn spa_Latn fra_Latn ind_Latn jpn_Jpan kor_Hang por_Latn rus_Cyrl tha_Thai vie_Latn
zho_Hans hin_Deva tur_Latn swh_Latn urd_Arab tam_Taml ben_Beng ita_Latn nld_Latn pol_Latn heb_Hebr""".split()


def test_xlsum_languages_are_megaverse_35():
    assert len(MEGAVERSE_XLSUM) == 35
    assert TASKS["xlsum"]["languages"] == MEGAVERSE_XLSUM
    assert set(MEGAVERSE_XLSUM) <= set(get_task("xlsum").languages)  # all are XL-Sum config names


def test_belebele_covers_groups_and_megaverse():
    langs = TASKS["belebele"]["languages"]
    assert len(langs) == len(set(langs))
    assert set(GROUPS_12) <= set(langs)
    assert set(get_task("belebele").languages) <= set(langs)  # MEGAVERSE's 23 for Table 1
    groups = PAPER["report"]["belebele_groups"]
    by_group = {}
    for lang in langs:
        by_group.setdefault(L.belebele_group(lang, groups), []).append(lang)
    assert {g: len(v) for g, v in by_group.items()} == {"group1": 11, "group2": 11, "group3": 13, None: 2}
    assert set(by_group[None]) == {"eng_Latn", "zho_Hant"}
    # the groups follow the training sets: group 1 = MultiAlpaca, group 1 + 2 = Bactrian-X-22
    iso = {name: {L.to_iso(code) for code in v} for name, v in by_group.items()}
    assert iso["group1"] == set(PAPER["datasets"]["multialpaca"]["languages"])
    assert iso["group1"] | iso["group2"] == set(PAPER["datasets"]["bactrian-x-22"]["languages"])
    assert not iso["group3"] & set(PAPER["datasets"]["bactrian-x-22"]["languages"])


def test_two_listed_groups_keep_the_rest_as_group3():
    groups = {"group1": ["ar"], "group2": ["zh"]}
    assert L.belebele_group("zho_Hant", groups) == "group2" and L.belebele_group("fin_Latn", groups) == "group3"
    assert L.belebele_group("fin_Latn", {**groups, "group3": ["est_Latn"]}) is None


def test_mlqa_shots_and_english_copa():
    assert "shots" not in TASKS["mlqa"]  # the registry's 8 (MEGAVERSE's -k 8) applies
    assert get_task("mlqa").protocols["megaverse"].shots == 8
    assert "en" in TASKS["xcopa"]["languages"]
    assert get_task("xcopa").protocols["megaverse"].lang_splits["en"] == ("validation", "train")
    assert get_task("xcopa").data_for("en").hub_id == "aps/super_glue"


def test_table1_belebele_average_is_over_megaverse_23():
    from maple.report.common import normalise
    from maple.report.tables import table1

    rows = []
    for lang in TASKS["belebele"]["languages"]:
        value = 0.5 if lang in get_task("belebele").languages else 0.0
        rows.append({"model": "m", "dataset": "multialpaca", "rank": 8, "bits": 16, "task": "belebele",
                     "language": lang, "protocol": "megaverse", "metric": "accuracy", "value": value, "n": 10,
                     "mode": "merged", "source": "measured"})
    t1 = table1(normalise(pd.DataFrame(rows)), {"m": "mistral"})
    measured_row = t1[t1["model"] == "m"].iloc[0]
    assert measured_row["Belebele (measured)"] == 0.5  # the 14 other languages (0.0) are left out


# --- no contamination: the tiny models never read what they are scored on ---------------------

def _embedded_eval_rows():
    """Every row any protocol scores in the embedded default (loaded as the task code loads them)."""
    from maple.tasks.loading import load_rows, resolve_source

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["evaluation"]["tasks"]
    for task, task_cfg in cfg.items():
        spec = get_task(task)
        task_cfg = {**task_cfg, "source": str(ROOT / task_cfg["source"])}
        for lang in task_cfg["languages"]:
            ref = spec.data_for(lang)
            for protocol, proto in spec.protocols.items():
                split = proto.lang_splits.get(lang, (proto.eval_split, None))[0]
                config = ((proto.config if ref is spec.data else None) or ref.config).format(lang=lang)
                data_files = task_cfg.get("data_files") if ref is spec.data else None
                yield from load_rows(task, lang, resolve_source(spec, ref, task_cfg), config, split,
                                     data_files).to_list()


def test_tiny_model_text_excludes_every_evaluated_split():
    from maple.data.tiny_model import _strings, bundled_files, bundled_texts

    roots = [str(ROOT / "resources" / "data"), str(ROOT / "resources" / "eval")]
    corpus = set(bundled_texts(roots))
    evaluated = {s for row in _embedded_eval_rows() for s in _strings(row) if len(s) >= 25}
    assert evaluated and not evaluated & corpus
    names = {str(p.relative_to(ROOT / "resources" / "eval")) for p in bundled_files(roots)
             if (ROOT / "resources" / "eval") in p.parents}
    # what stays: shot-only splits; XQuAD validation, XCOPA/MLQA validation, AlpacaEval are out
    assert "squad/plain_text/train.jsonl" in names and "copa/copa/train.jsonl" in names
    assert not any(n.startswith(("xquad/", "alpaca_eval/", "belebele/", "mlqa/")) for n in names)
    assert not any(n.startswith(("xcopa/", "copa/copa/validation")) for n in names)


def test_tokenizer_and_warmup_skip_evaluated_text(tmp_path):
    """Plant a word in an evaluated split and another in a shot-only split: the built tokenizer learns
    only the second (so the check can fail), and the build record lists the files read."""
    import json

    from maple.data.tiny_model import build_tiny_model

    root = tmp_path / "eval"
    for rel, word in (("xquad/xquad.en/validation.jsonl", "zqxjvwk"), ("squad/plain_text/train.jsonl", "wvjxqzk"),
                      ("mlqa/mlqa.en.en/validation.jsonl", "kqzvwxj"), ("alpaca_eval/alpaca_eval/eval.jsonl", "jxkqvwz")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("".join(json.dumps({"text": f"{word} {word} {word}"}) + "\n" for _ in range(300)))
    build = {"architecture": "llama", "hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1, "vocab_size": 400,
             "pretrain_steps": 0}
    record = build_tiny_model(str(tmp_path / "model"), build, [str(root)], seed=1)
    vocab = json.loads((tmp_path / "model" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert "wvjxqzk" in vocab
    assert not {"zqxjvwk", "kqzvwxj", "jxkqvwz"} & set(vocab)
    assert record["text_files"] == [str(root / "squad/plain_text/train.jsonl")]


# --- one training recipe, and the schedule it really runs --------------------------------------

def test_one_recipe_and_effective_warmup(tmp_path):
    from maple.train.trainer import effective_schedule, training_arguments

    train = PAPER["training"]
    assert not train.get("per_dataset")  # no Bactrian-X-only learning rate / dropout by default
    assert train["lr_scheduler_type"] == "constant_with_warmup" and train["warmup_ratio"] == 0.03
    base = {"seed": 1, "bits": 16, "rank": 8, "learning_rate": 1e-3, "max_steps": 100, "per_device_train_batch_size": 1}
    on = training_arguments({**base, "lr_scheduler_type": "constant_with_warmup", "warmup_ratio": 0.03},
                            str(tmp_path), "cpu")
    off = training_arguments({**base, "lr_scheduler_type": "constant", "warmup_ratio": 0.03}, str(tmp_path), "cpu")
    assert effective_schedule(on, 100) == {"lr_scheduler_type": "constant_with_warmup", "warmup_steps": 3,
                                           "warmup_configured_steps": 3, "warmup_applied": True}
    assert effective_schedule(off, 100)["warmup_applied"] is False
    # what transformers really does with each: the constant schedule starts at the full rate
    import torch
    from transformers.optimization import get_scheduler

    for args, first_lr in ((on, 0.0), (off, 1e-3)):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        sched = get_scheduler(args.lr_scheduler_type, opt, num_warmup_steps=args.get_warmup_steps(100),
                              num_training_steps=100)
        assert sched.get_last_lr()[0] == first_lr


# --- what produced each score --------------------------------------------------------------------

def test_quantised_loads_are_bitsandbytes_layers(tiny_model):
    """4 bits: every targeted Linear is a bitsandbytes Linear4bit holding packed nf4 (two weights per
    uint8, double-quantised); 8 bits: Linear8bitLt holding int8 weights and their row scales."""
    import math

    import bitsandbytes as bnb
    import torch

    from maple.models import load_base_model

    full = load_base_model(tiny_model, 16, "cpu")
    shapes = {n: tuple(m.weight.shape) for n, m in full.named_modules()
              if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")}
    assert shapes
    m4 = dict(load_base_model(tiny_model, 4, "cpu").named_modules())
    m8 = dict(load_base_model(tiny_model, 8, "cpu").named_modules())
    for name, (out_f, in_f) in shapes.items():
        layer = m4[name]
        assert isinstance(layer, bnb.nn.Linear4bit), name
        assert isinstance(layer.weight, bnb.nn.Params4bit) and layer.weight.dtype == torch.uint8
        assert layer.weight.numel() == math.ceil(out_f * in_f / 2)  # packed: two 4-bit codes per byte
        state = layer.weight.quant_state
        assert state.quant_type == "nf4" and state.nested and tuple(state.shape) == (out_f, in_f)
        layer = m8[name]
        assert isinstance(layer, bnb.nn.Linear8bitLt), name
        assert isinstance(layer.weight, bnb.nn.Int8Params) and layer.weight.dtype == torch.int8
        assert tuple(layer.weight.shape) == (out_f, in_f) and layer.weight.SCB is not None
    assert not isinstance(m4["lm_head"], bnb.nn.Linear4bit)  # transformers keeps the head in full precision


def test_served_as_says_what_produced_the_outputs():
    from maple import grid
    from maple.generate.served import differs_from_training, served_as

    q4, full = grid.parse_cell("m/multialpaca/r8-b4"), grid.parse_cell("m/multialpaca/r8-b16")
    assert served_as(q4, "merged") == "dequantised merge" and served_as(full, "merged") == "16-bit merge"
    assert served_as(q4, "multi_lora") == served_as(full, "multi_lora") == "unquantised base"
    assert served_as(grid.parse_cell("m/none/base"), "multi_lora") == "base model"
    assert differs_from_training(4, "unquantised base") and not differs_from_training(16, "unquantised base")
    assert not differs_from_training(8, "dequantised merge")


# --- figures and tables as in the paper ------------------------------------------------------------

def test_tables_in_the_papers_row_order():
    from maple.report.aggregate import load_published
    from maple.report.common import normalise
    from maple.report.tables import table1, table2

    pub = load_published(None)
    t1 = table1(pub, {}, protocols=["megaverse"])
    baselines = [m for m in t1["paper model"] if m in ("GPT-4", "Mistral-7B-Instruct", "Llama-2-70B-chat", "PaLM2")]
    assert baselines == ["GPT-4", "Mistral-7B-Instruct", "Llama-2-70B-chat", "PaLM2"]
    rows = [{"model": "m", "dataset": d, "rank": 8, "bits": 16, "task": "alpaca_eval", "language": "en",
             "protocol": "megaverse", "metric": "win_rate", "value": 50.0, "n": 5, "mode": "merged",
             "source": "measured"} for d in ("multialpaca", "alpaca", "bactrian-x-11", "bactrian-x-22")]
    t2 = table2(normalise(pd.DataFrame(rows)), {"m": "llama"}, protocols=["megaverse"])
    measured_rows = t2[t2["model"] == "m"]
    assert list(measured_rows["dataset"]) == ["alpaca", "bactrian-x-22", "bactrian-x-11", "multialpaca"]


def test_figure4_languages_and_figure1_variants():
    from maple.report import figures as F
    from maple.report.figure_names import STEMS

    assert F.XQUAD_ORDER == ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi"]
    assert "fig1b" in STEMS and "fig1b" in F.CAPTIONS and F.FIG1_EXTRA_DATASETS == ("alpaca",)


def test_table2_marks_rows_whose_judge_is_not_the_papers(tmp_path):
    from maple.metrics.alpaca_eval import lc_unavailable_reason
    from maple.report.common import normalise
    from maple.report.tables import table2

    def row(dataset, judge, metric="win_rate", value=50.0):
        return {"model": "m", "dataset": dataset, "rank": 8, "bits": 16, "task": "alpaca_eval", "language": "en",
                "protocol": "reference", "metric": metric, "value": value, "n": 5, "mode": "merged",
                "source": "measured", "judge": judge}

    rows = [row("alpaca", "mistralai/Mistral-7B-Instruct-v0.2"), row("multialpaca", "alpaca_eval:alpaca_eval_gpt4")]
    md = tmp_path / "t2.md"
    t2 = table2(normalise(pd.DataFrame(rows)), {"m": "mistral"}, out_md=str(md), protocols=["reference"])
    judges = dict(zip(t2["dataset"], t2["judge (measured)"]))
    assert judges["alpaca"].endswith("(not the paper's judge)")
    assert judges["multialpaca"] == "alpaca_eval:alpaca_eval_gpt4"
    reason = lc_unavailable_reason()
    text = md.read_text(encoding="utf-8")
    assert (f"LC win rate not computed: {reason}" in text) if reason else ("LC win rate not computed" not in text)


def test_alpaca_eval_budget_and_paper_judge():
    assert get_task("alpaca_eval").max_new_tokens == 2048
    judge = PAPER["evaluation"]["judge"]["model"]
    assert "instruct" in PAPER["models"][judge]["path"].lower()
    assert judge not in {m for block in PAPER["grid"] for m in block["models"]}


# --- the megaverse protocol scores raw outputs as MEGAVERSE's HF path does ---------------------
# Oracle: MEGAVERSE's own functions, excerpted verbatim in tests/data/metrics/official/megaverse_excerpts.py.
# Rows: the real subsets in ../shared/data (skipped when absent). Outputs: what 7B models write after
# a few-shot prompt (an explanation after the answer, the restated question, a second line, the next
# example, "\r", U+2028, form feed, NEL, leading blank lines and dots, the template's next turn).

SHARED = ROOT.parent / "shared" / "data"
OFFICIAL = ROOT / "tests" / "data" / "metrics" / "official"
MEGA_TOL = 1e-6


def _load(name: str, filename: str):
    import importlib.util
    import warnings

    spec = importlib.util.spec_from_file_location(name, OFFICIAL / filename)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
    return module


MV = _load("megaverse_excerpts", "megaverse_excerpts.py")


_shared_files = shared_files


def _rows(path):
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _requests(task: str, lang: str, rows: list[dict]) -> list[dict]:
    """The workflow's megaverse requests for these rows (gold and choices as the workflow records them)."""
    from maple.tasks.build import requests_from_rows

    spec = get_task(task)
    triples = [(f"r{i}", i, row) for i, row in enumerate(rows)]
    return requests_from_rows(spec, lang, "megaverse", triples, lambda _i: [], spec.max_new_tokens)


def _cls_outputs(answer: str, other: str, row: dict, restated: str) -> list[str]:
    return [
        answer,
        f" {answer}\n\n{restated}",  # the next few-shot example
        f"{answer}. {restated[:80]} supports it.",
        f"\n{other}\nExplanation: {restated[:60]}",
        f"{restated}\nAnswer: {answer}",  # the question restated first
        f"{answer}\r\n{restated}",
        f"{other}\u2028{answer}",
        f"...\n{answer}",
        f". \n{answer}",
        f"The answer is {other.lower()}.\n\n### Instruction:\nYou are an NLP assistant",
        "</s>",
        "",
        f"{answer}\x0c{other}",
        f"{other}\x85{answer}",
        f"  {answer.upper()}!!\n",
        f"I think it is {answer.lower()}, because",
        f"\n\n\n{other}.",
    ]


def _qa_outputs(answer: str, row: dict) -> list[str]:
    context, question = row["context"], row["question"]
    return [
        answer,
        f"{answer}.",
        f" {answer}\n\nQ: {question}",
        f"The answer is {answer}.",
        f"According to the passage, {answer}.\nExplanation: {context[:80]}",
        f"{answer}\r\nQ: {question}",
        f"{answer}\u2028{question}",
        f"Referring to the passage above, the correct answer to the given question is: {answer}",
        f"\n\n{answer}\n\n{context[:100]}\nQ: {question}",
        f"«{answer}»",
        context[:60],
        "",
        f"{answer} {answer}",
        f"...{answer}...",
        f"Answer: {answer}\n\n### Instruction:",
    ]


def _belebele_outputs(letter: str, other: str, row: dict) -> list[str]:
    option = row[f"mc_answer{'ABCD'.index(letter) + 1}"]
    return [
        f"({letter})",
        f"({letter}) {option}",
        f"Answer: ({letter})",
        f"The correct answer is ({letter}).",
        f"\n\n({letter})\n###\nPassage:\n{row['flores_passage'][:80]}",
        f"{letter}\n\nExplanation: {row['question']}",
        str("ABCD".index(letter) + 1),
        f"({letter.lower()})",
        f"Option {letter}: {option}",
        f"###\nAnswer:\n({other})",
        f"{row['question'][:30]} ({letter})",
        f" {letter}.",
        "",
        "...",
    ]


def _xlsum_outputs(row: dict) -> list[str]:
    summary, title, text = row["summary"], row["title"], row["text"]
    return [
        summary,
        f"{summary}\n\n===\n\nWrite a summary of the text above : {text[:100]}",
        f"Summary: {text[:200]}",
        f"{title}\n{text[:300]}",
        f"\n\n{summary}.",
        summary[: len(summary) // 2],
        "",
        f"{summary}\r\n{title}",
        f"{summary}\u2028{title}",
        f"...{summary}...\n\n### Instruction:",
    ]


def _cli_summary(task: str, lang: str, records: list[dict], tmp_path, capsys) -> dict:
    """`python -m maple.score --protocol megaverse` on the records (its main(), in this process)."""
    import json

    from maple import score

    path = tmp_path / f"{task}.{lang}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    capsys.readouterr()
    assert score.main(["--task", task, "--lang", lang, "--protocol", "megaverse", "--input", str(path)]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _squad_compute(official):
    """evaluate.load("squad").compute: HF evaluate's squad metric (the official v1.1 compute_score)."""

    def compute(predictions, references):
        pred_dict = {p["id"]: p["prediction_text"] for p in predictions}
        dataset = [{"paragraphs": [{"qas": [
            {"answers": [{"text": t} for t in ref["answers"]["text"]], "id": ref["id"]} for ref in references
        ]}]}]
        return official.evaluate(dataset, pred_dict)

    return compute


def _qa_cases():
    for path in _shared_files("xquad/validation.*.jsonl") + _shared_files("mlqa/validation.*.jsonl"):
        yield path.parent.name, path.name.split(".")[1], _rows(path)


def test_held_out_classification_equals_megaverse_code(tmp_path, capsys):
    """XNLI and XCOPA (run_seq_eval), Belebele (evaluate): maple.score's megaverse accuracy on raw
    outputs equals MEGAVERSE's code on hf_model_completion's post-processed outputs, per language."""
    from maple.tasks.prompts import XCOPA_VERBALIZER, XNLI_VERBALIZER

    checked = 0
    for task, pattern in (("xnli", "xnli/test.*.jsonl"), ("xcopa", "xcopa/validation.*.jsonl"),
                          ("belebele", "belebele/test.*.jsonl")):
        for path in _shared_files(pattern):
            lang = path.name.split(".")[1]
            rows = _rows(path)
            records, expected_inputs = [], []
            for row, request in zip(rows, _requests(task, lang, rows)):
                gold = request["gold"]
                if task == "xnli":
                    verbs = XNLI_VERBALIZER
                    outputs = _cls_outputs(verbs[gold], verbs[(gold + 1) % 3], row,
                                           f"{row['premise']}\nQuestion: {row['hypothesis']} True, False, or Neither?")
                elif task == "xcopa":
                    verbs = XCOPA_VERBALIZER
                    outputs = _cls_outputs(verbs[gold], verbs[1 - gold], row,
                                           f"- choice1: {row['choice1']}\n- choice2: {row['choice2']}")
                else:
                    outputs = _belebele_outputs("ABCD"[gold], "ABCD"[(gold + 2) % 4], row)
                for k, output in enumerate(outputs):
                    records.append({**request, "id": f"{request['id']}-{k}", "output": output})
                    expected_inputs.append((MV.hf_postprocess(output), gold))
            if task == "belebele":
                expected = MV.belebele_evaluate_accuracy([p for p, _ in expected_inputs],
                                                         [str(g + 1) for _, g in expected_inputs])
            else:
                expected = MV.run_seq_eval_accuracy([p for p, _ in expected_inputs],
                                                    [verbs[g] for _, g in expected_inputs])
            got = _cli_summary(task, lang, records, tmp_path, capsys)
            assert got["n"] == len(records)
            assert abs(got["accuracy"] - expected) < MEGA_TOL, (task, lang, got, expected)
            assert 0 < expected < 1
            checked += 1
    assert checked >= 3


def test_held_out_qa_equals_megaverse_code(tmp_path, capsys):
    """XQuAD and MLQA: the whole post-processed output through normalize_fn, then the SQuAD metric
    (evaluate_qa_chatgpt), per language; scoring only the first line would differ on these outputs."""
    from maple.tasks.extract import first_line

    squad = _squad_compute(_load("squad_official", "evaluate-v1.1.py"))
    for task, lang, rows in _qa_cases():
        records, outputs, examples = [], [], []
        for i, row in enumerate(rows):
            for k, output in enumerate(_qa_outputs(row["answers"]["text"][0], row)):
                rid = f"{row['id']}-{k}"
                records.append({"id": rid, "output": output, "gold": list(row["answers"]["text"])})
                outputs.append(MV.hf_postprocess(output))
                examples.append({"id": rid, "answers": {"text": list(row["answers"]["text"]),
                                                        "answer_start": list(row["answers"]["answer_start"])}})
        if task == "mlqa":
            import functools

            normalize_fn = functools.partial(MV.normalize_answer_mlqa, lang)
        else:
            normalize_fn = MV.normalize_answer
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            expected = MV.qa_evaluate_scores(outputs, examples, normalize_fn, squad)
        got = _cli_summary(task, lang, records, tmp_path, capsys)
        assert got["n"] == len(records)
        assert abs(got["f1"] - expected["f1"] / 100) < MEGA_TOL, (task, lang, got, expected)
        assert abs(got["exact_match"] - expected["exact_match"] / 100) < MEGA_TOL, (task, lang, got, expected)
        firsts = [{**r, "output": first_line(r["output"])} for r in records]
        assert _cli_summary(task, lang, firsts, tmp_path, capsys)["f1"] != got["f1"]


def test_held_out_xlsum_equals_megaverse_code(tmp_path, capsys):
    """XL-Sum: ROUGE-L, np.average of (P, R, F), on the whole post-processed output, per language."""
    from multilingual_rouge import rouge_scorer

    for path in _shared_files("xlsum/sample.*.jsonl"):
        lang = path.name.split(".")[1]
        rows = _rows(path)
        records, preds, labels = [], [], []
        for row, request in zip(rows, _requests("xlsum", lang, rows)):
            for k, output in enumerate(_xlsum_outputs(row)):
                records.append({**request, "id": f"{request['id']}-{k}", "output": output})
                preds.append(MV.hf_postprocess(output))
                labels.append(row["summary"])
        expected = MV.xlsum_evaluate_rouge_l(rouge_scorer, preds, labels)
        got = _cli_summary("xlsum", lang, records, tmp_path, capsys)
        assert got["n"] == len(records)
        assert abs(got["rougeL"] - expected) < MEGA_TOL, (lang, got, expected)


# --- stops: kept only where MEGAVERSE's rule provably cannot read past them ---------------------

def _cls_cases():
    """(task, request, output) for XNLI and XCOPA rambling outputs over the shared rows."""
    from maple.tasks.prompts import XCOPA_VERBALIZER, XNLI_VERBALIZER

    for task, pattern, verbs in (("xnli", "xnli/test.*.jsonl", XNLI_VERBALIZER),
                                 ("xcopa", "xcopa/validation.*.jsonl", XCOPA_VERBALIZER)):
        for path in _shared_files(pattern):
            lang = path.name.split(".")[1]
            rows = _rows(path)
            for row, request in zip(rows, _requests(task, lang, rows)):
                gold = request["gold"]
                restated = (f"{row['premise']}\nQuestion: {row['hypothesis']} True, False, or Neither?"
                            if task == "xnli" else f"- choice1: {row['choice1']}\n- choice2: {row['choice2']}")
                for output in _cls_outputs(verbs[gold], verbs[(gold + 1) % len(verbs)], row, restated) + [
                    "\n\n" + verbs[gold], ".\n" + verbs[gold], " . \n " + verbs[gold], "\r\n" + verbs[gold],
                    verbs[gold] + ".\n\n" + verbs[(gold + 1) % len(verbs)], "\u2028\n" + verbs[gold],
                    "</s>\n" + verbs[gold], verbs[gold] + " </s>\n", "\t\n..\n" + verbs[gold],
                ]:
                    yield task, lang, request, output


def test_first_line_stop_with_regeneration_never_changes_a_score():
    """XNLI/XCOPA megaverse requests stop at "\\n"; an output cut before any content is generated again
    without stops (maple.generate.run.generate_unique). On every rambling output the score, under
    MEGAVERSE's code and under maple.score, equals that of the full generation; without the
    regeneration it would not."""
    from maple.generate.backends import cut_at_stop
    from maple.generate.run import unsettled_by_stop
    from maple.metrics import score_records

    n = regenerated = differs_without = 0
    for task, lang, request, full in _cls_cases():
        assert request["stop"] == ["\n"]
        label = request["choices"][request["gold"]]
        cut = cut_at_stop(full, request["stop"])
        kept = full if unsettled_by_stop(request, cut) else cut  # what generate_unique returns under greedy
        regenerated += kept is full and cut != full
        expected = MV.run_seq_eval_accuracy([MV.hf_postprocess(full)], [label])
        assert MV.run_seq_eval_accuracy([MV.hf_postprocess(kept)], [label]) == expected, (full, kept)
        ours = score_records(task, lang, "megaverse", [{**request, "output": kept}])[0]["accuracy"]
        assert ours == expected, (task, full, kept)
        differs_without += MV.run_seq_eval_accuracy([MV.hf_postprocess(cut)], [label]) != expected
        n += 1
    assert n > 100 and regenerated > 0 and differs_without > 0


def test_no_other_stop_is_invisible_to_megaverse_rules():
    """Each stop the megaverse protocol does not keep changes a score on an ordinary output: the
    reference protocol's blank line, the template header, and "\\n" for the tasks that read everything."""
    from maple.generate.backends import cut_at_stop
    from maple.metrics import score_records

    def score(task, lang, output, gold, choices=None):
        record = {"output": output, "gold": gold, "choices": choices}
        summary = score_records(task, lang, "megaverse", [record])[0]
        return summary.get("accuracy", summary.get("f1", summary.get("rougeL")))

    cases = [
        ("xnli", "en", "\n\nTrue", 0, ["True", "Neither", "False"], "\n\n"),  # the answer after a blank line
        ("xnli", "en", "### Instruction: True", 0, ["True", "Neither", "False"], "### Instruction:"),
        ("belebele", "eng_Latn", "\n(B)", 1, ["(A)", "(B)", "(C)", "(D)"], "\n"),
        ("belebele", "eng_Latn", "The passage says\n\n(B)", 1, ["(A)", "(B)", "(C)", "(D)"], "\n\n"),
        ("xquad", "en", "\n\nParis", ["Paris"], None, "\n\n"),
        ("xquad", "en", "The capital\nParis", ["Paris"], None, "\n"),
        ("mlqa", "de", "Antwort:\n\nParis", ["Paris"], None, "\n\n"),
        ("xquad", "en", "Paris\n\n### Instruction: capital", ["Paris capital"], None, "### Instruction:"),
        ("xlsum", "english", "\n\nThe minister resigned.", ["The minister resigned."], None, "\n\n"),
    ]
    for task, lang, output, gold, choices, stop in cases:
        full = score(task, lang, output, gold, choices)
        assert score(task, lang, cut_at_stop(output, [stop]), gold, choices) != full, (task, output, stop)
    from maple.tasks import get_task

    for task in ("xquad", "mlqa", "belebele", "xlsum"):
        assert get_task(task).protocol("megaverse").stop == ()  # their rules read the whole output


class _GreedyText:
    """A generation backend with one fixed greedy continuation per prompt, cut at stops as vLLM cuts."""

    def __init__(self, continuations):
        self.continuations, self.calls = continuations, []

    def generate(self, batch, adapter=None):
        from maple.generate.backends import cut_at_stop

        self.calls.append([(r["prompt"], tuple(r["stop"])) for r in batch])
        return [cut_at_stop(self.continuations[r["prompt"]], r["stop"]) for r in batch]


def test_generate_unique_regenerates_outputs_cut_before_their_first_line():
    from maple.generate.run import generate_unique
    from maple.tasks.build import requests_from_rows

    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "label": 0} for i in range(3)]
    reqs = requests_from_rows(get_task("xnli"), "en", "megaverse", [(f"r{i}", i, r) for i, r in enumerate(rows)],
                              lambda _i: [], 100)
    ref = requests_from_rows(get_task("xnli"), "en", "reference", [("r0", 0, rows[0])], lambda _i: [], 100)
    conts = dict(zip([r["prompt"] for r in reqs], ["True\nQuestion: more", "\nFalse\nmore", " .\n\nNeither"]))
    backend = _GreedyText(conts)
    # XNLI's reference protocol takes megaverse's stop and rule (specs.XNLI); XCOPA's has no such rule
    assert ref[0]["stop"] == ["\n"]
    other = {**ref[0], "task": "xcopa", "prompt": reqs[1]["prompt"]}
    out = generate_unique(backend, reqs + [{**ref[0], "prompt": reqs[1]["prompt"]}, other])
    assert out[:3] == ["True", "\nFalse\nmore", " .\n\nNeither"]
    assert out[3] == "\nFalse\nmore"  # the same request as megaverse's: the same output
    assert out[4] == ""  # a protocol without the rule: its cut stands
    assert [len(c) for c in backend.calls] == [3, 2]  # one batch, then the two unsettled again, without stops
    assert all(stop == () for _, stop in backend.calls[1])


# --- prompts and shots as MEGAVERSE's HF path built them ------------------------------------------

def _turns(task: str, protocol: str, shots: list[dict], row: dict) -> list[dict]:
    """The chat turns maple lays out for a request (maple.tasks.build.render_prompt's turns)."""
    from maple.tasks import chat_layout
    from maple.tasks.build import _query

    spec = get_task(task)
    query = _query(spec, protocol)
    return chat_layout.messages(spec.instruction, [(query(s), spec.target(s)) for s in shots], query(row))


def test_qa_turns_are_construct_qa_prompt():
    """XQuAD/MLQA megaverse: system, (user, assistant) per shot and the test query exactly as
    construct_qa_prompt(..., chat_prompt=True) makes them from PROMPTS_DICT (indentation included)."""
    for task, lang, rows in _qa_cases():
        shots, tests = rows[:8], rows[8:12]
        for row in tests:
            expected, label = MV.construct_qa_prompt(
                shots, row, MV.PROMPTS_DICT["answer_given_context_and_question"],
                MV.PROMPTS_DICT["answer_given_context_and_question"], chat_prompt=True,
                instruction=MV.INSTRUCTIONS["xquad"])
            assert _turns(task, "megaverse", shots, row) == expected
            assert label == row["answers"]["text"][0]
            assert "\n    Q: " in expected[-1]["content"]


def test_belebele_turns_are_construct_belebele_prompt():
    for path in _shared_files("belebele/test.*.jsonl"):
        for row in _rows(path)[:3]:
            expected, label = MV.construct_belebele_prompt(
                [], row, MV.PROMPT_TEMPLATES["Choose the correct answer"],
                MV.PROMPT_TEMPLATES["Choose the correct answer"], MV.VERBALIZER["default"], chat_prompt=True,
                instruction=MV.INSTRUCTIONS["belebele"])
            assert _turns("belebele", "megaverse", [], row) == expected
            assert expected[-1]["content"].startswith(MV.INSTRUCTIONS["belebele"])  # the instruction, twice


def test_megaverse_shots_are_choose_few_shot_examples():
    """np.random.seed(42), then choose_few_shot_examples(train, k, "random"); XNLI's entry point draws
    once before evaluate_model draws the shots it uses."""
    import numpy as np

    from maple.tasks.build import megaverse_shot_indices

    for n, k, draw in ((87599, 8, 1), (392702, 8, 2), (100, 8, 1), (1000, 4, 1), (400, 8, 1)):
        np.random.seed(42)
        for _ in range(draw):
            expected = MV.choose_few_shot_examples(list(range(n)), k, "random")
        assert megaverse_shot_indices(n, k, 42, draw) == expected
    draws = {t: get_task(t).protocol("megaverse").shot_draw for t in ("xnli", "xcopa", "xquad", "mlqa", "xlsum")}
    assert draws == {"xnli": (42, 2), "xcopa": (42, 1), "xquad": (42, 1), "mlqa": (42, 1), "xlsum": (42, 1)}


def test_megaverse_requests_carry_megaverse_shots_in_order():
    """Built end to end on the embedded data: the shots of every megaverse XQuAD prompt are the rows
    MEGAVERSE's draw picks from the shot split, in its order."""
    import numpy as np

    from maple.tasks.build import build_requests
    from maple.tasks.loading import load_rows, resolve_source

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["evaluation"]["tasks"]["xquad"]
    cfg = {**cfg, "source": str(ROOT / cfg["source"])}
    spec = get_task("xquad")
    squad = load_rows("xquad", "en", resolve_source(spec, spec.protocol("megaverse").shot_data, cfg),
                      "plain_text", "train", None, None).to_list()
    np.random.seed(42)
    shots = MV.choose_few_shot_examples(squad, 8, "random")
    request = build_requests("xquad", "en", "megaverse", cfg, 1234, max_examples=1)[0]
    at = [request["prompt"].index(s["question"]) for s in shots]
    assert at == sorted(at) and request["shots"] == 8
