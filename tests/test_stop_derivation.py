"""A one-stop request whose prompt and limits equal a no-stop request's is not sent: its output is the
no-stop output cut at the stop (maple.generate.order.stop_derivations). XL-Sum's reference protocol
is derived this way from megaverse's generation; the outputs and scores must be what generating it
directly gives."""

import importlib.util
import itertools
import json
import random
from pathlib import Path

import pytest
import yaml

from maple.generate.order import derivable_stop, derive_output, sent, stop_derivations
from maple.plan.tokenizer import mistral_v1_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PAPER = ROOT / "config" / "paper.yaml"
MISTRAL = mistral_v1_model()
HAS_VLLM = importlib.util.find_spec("vllm") is not None

CASES = ["", "abc", "\n\nabc", "\n\n", "a\n\n\nb", "a\n\n", "a\nb\n\nc\n\nd", "\n", "a\n", "a\r\n\r\nb", "ท\n\nx"]


def _vllm_stream_cut(text: str, stop: str, chunks: list[int]) -> str:
    """What vLLM's detokenizer returns for `text` arriving in pieces of `chunks` characters with `stop`:
    its own check_stop_strings after each piece, the text truncated where it says."""
    from vllm.v1.engine.detokenizer import check_stop_strings

    out, pos = "", 0
    for size in chunks:
        if pos >= len(text):
            break
        new = text[pos:pos + size]
        pos += size
        out += new
        hit = check_stop_strings(out, len(new), [stop], False)
        if hit is not None:
            return out[:hit[1]]
    return out


@pytest.mark.parametrize("text", CASES)
def test_derivation_is_truncation_at_the_first_stop(text):
    """Stop at position 0, absent, overlapping ("\\n\\n\\n" cuts at the first "\\n\\n"), at the end."""
    expected = text.split("\n\n", 1)[0]
    assert derive_output(text, "\n\n") == expected
    if HAS_VLLM:  # vLLM's own stop check, for every way of splitting the text into new-text pieces
        for chunks in itertools.product((1, 2, 3), repeat=min(len(text), 6)):
            assert _vllm_stream_cut(text, "\n\n", list(chunks) + [1] * len(text)) == expected


def test_fixed_cases():
    assert derive_output("\n\nsummary", "\n\n") == ""
    assert derive_output("summary", "\n\n") == "summary"
    assert derive_output("a\n\n\nb", "\n\n") == "a"
    assert derive_output("one\n\ntwo\n\nthree", "\n\n") == "one"


def _req(prompt="p", stop=(), n=400, **kw):
    return {"prompt": prompt, "stop": list(stop), "max_new_tokens": n, "task": "t", "protocol": kw.pop("protocol", "x"),
            "id": kw.pop("id", prompt), **kw}


def test_only_one_stop_on_an_identical_prompt_and_limits_is_derived():
    reqs = [
        _req("p", protocol="megaverse"),  # 0: the no-stop source
        _req("p", ["\n\n"], protocol="reference"),  # 1: derived from 0
        _req("p", ["\n\n", "### Instruction:"]),  # 2: two stops: vLLM's order of checks can matter
        _req("p", ["\n\n"], n=100),  # 3: other limits
        _req("q", ["\n\n"]),  # 4: no source
        _req("r", failed=True),  # 5: a failed source
        _req("r", ["\n\n"]),  # 6
        _req("p", [""]),  # 7: an empty stop string
        _req("p", ["\n"], allowed=["A"]),  # 8: other allowed tokens
    ]
    assert derivable_stop(reqs[2]) is None and derivable_stop(reqs[1]) == "\n\n"
    assert stop_derivations(reqs) == {1: 0}
    assert reqs[1] not in sent(reqs) and reqs[1] in sent(reqs, derive_stops=False)
    assert len(sent(reqs)) == len(sent(reqs, derive_stops=False)) - 1


class FakeEngine:
    """Greedy 'outputs' fixed by the prompt, cut at the first stop the way vLLM cuts; records what it is sent."""

    derives_stops = True

    def __init__(self):
        self.sent = []

    @staticmethod
    def full(prompt):
        return {"a": "first\n\nsecond", "b": "\n\nlate", "c": "no blank line", "d": "x\n\n\ny",
                "e": "\nafter a newline"}[prompt[0]]

    def generate(self, requests, adapter=None):
        from maple.generate.backends import cut_at_stop

        self.sent += requests
        return [cut_at_stop(self.full(r["prompt"]), r.get("stop")) for r in requests]


def test_generate_outputs_derives_and_sends_what_the_plan_counts():
    from maple.generate.run import derived_from, generate_outputs

    reqs = []
    for p in "abcd":
        reqs += [_req(p, protocol="megaverse", id=p), _req(p, ["\n\n"], protocol="reference", id=p)]
    reqs.append(_req("a", ["\n\n", "###"], protocol="other"))
    engine = FakeEngine()
    texts, sources = generate_outputs(engine, reqs)
    direct = FakeEngine().generate(reqs)
    assert texts == direct
    assert sources == [None, 0, None, 2, None, 4, None, 6, None]
    assert [r["id"] for r in engine.sent] == [r["id"] for r in sent(reqs)]  # the plan's count is what is sent
    assert not any(r["protocol"] == "reference" for r in engine.sent)
    assert derived_from(reqs, sources)[1]["derived_from"]["protocol"] == "megaverse"
    assert derived_from(reqs, sources)[0] == {}
    plain = FakeEngine()
    plain.derives_stops = False  # the HF backend: every request generated
    assert generate_outputs(plain, reqs) == (direct, [None] * len(reqs))
    assert len(plain.sent) == len(reqs)


def test_a_derived_output_cut_before_its_first_line_takes_the_no_stop_output():
    """stop_settles still works for derived requests: XNLI megaverse's "\\n" stop, unsettled, gets the
    no-stop output (what generating it again without stops returns), and nothing is sent again."""
    from maple.generate.run import generate_outputs

    reqs = [_req("e", task="xnli", protocol="reference", id="src"), _req("e", ["\n"], task="xnli", protocol="megaverse")]
    reqs[0]["task"] = reqs[1]["task"] = "xnli"
    engine = FakeEngine()
    texts, sources = generate_outputs(engine, reqs)
    assert texts == [FakeEngine.full("e")] * 2 and sources == [None, 0] and len(engine.sent) == 1


def _xlsum_rows(lang, n):
    from maple.plan import core

    return core.read_rows(str(SHARED / "xlsum" / f"sample.{lang}.jsonl"), "xlsum")[:n]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_xlsum_reference_prompts_are_megaverses(tmp_path):
    """Built by the workflow's builder on ../shared/data rows (hub layout: the rows as test, and as train
    for the shots): for every row the two protocols' prompts are identical; reference stops at "\\n\\n" only."""
    from maple.tasks.build import build_requests

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    for path in sorted((SHARED / "xlsum").glob("sample.*.jsonl")):
        lang = path.name.split(".")[1]
        for split in ("test", "train"):
            (tmp_path / lang).mkdir(exist_ok=True)
            (tmp_path / lang / f"{split}.jsonl").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        task_cfg = {"source": str(tmp_path), "data_files": "{config}/{split}.jsonl", "languages": [lang]}
        built = {p: build_requests("xlsum", lang, p, task_cfg, cfg["seed"], prompt_cfg=cfg["prompt"])
                 for p in ("megaverse", "reference")}
        mv, ref = built["megaverse"], built["reference"]
        assert len(mv) == len(ref) == len(path.read_text(encoding="utf-8").splitlines())
        assert [r["prompt"] for r in ref] == [r["prompt"] for r in mv]
        assert [r["id"] for r in ref] == [r["id"] for r in mv]
        assert all(r["stop"] == ["\n\n"] for r in ref) and all(r["stop"] == [] for r in mv)
        assert all(r["max_new_tokens"] == m["max_new_tokens"] == 400 for r, m in zip(ref, mv))
        assert stop_derivations(mv + ref) == {len(mv) + i: i for i in range(len(ref))}


def _xlsum_requests(tokenizer, langs=("vietnamese", "indonesian"), n=6):
    from maple.plan import core
    from maple.tasks.budget import Budget

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    requests = []
    for lang in langs:
        rows = _xlsum_rows(lang, n)
        for protocol in ("megaverse", "reference"):
            built, _ = core.plan_requests("xlsum", lang, protocol, rows, None, cfg["evaluation"]["tasks"]["xlsum"],
                                          cfg["prompt"], cfg["seed"], Budget(tokenizer, 4096))
            requests += built
    return requests


LOOP_TOKEN, BLANK_LINE_GAIN = 11275, 0.3  # measured on the seed-0 twin: some summaries then hold "\n\n"


@pytest.fixture(scope="module")
def chatty_twin(tmp_path_factory):
    """A tiny Mistral-architecture model with Mistral-7B's vocabulary that writes blank lines: its "\n"
    row of lm_head is the row of a token its greedy outputs loop on (so "\n" comes where that token
    would), plus the direction from the hidden state at a prompt's end to those after a "\n" it then
    writes (so a written "\n" is sometimes doubled). A random twin never writes "\n\n", and the test needs it."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    from maple.data.tiny_model import build_tokenizer_twin
    from maple.plan.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(MISTRAL)
    out = tmp_path_factory.mktemp("twin") / "model"
    build_tokenizer_twin(str(out), tokenizer)
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][-1]
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    head = model.lm_head.weight.data
    head[newline] = head[LOOP_TOKEN] * 1.02
    doubled, last = [], []
    for r in _xlsum_requests(tokenizer, n=6)[:6]:  # Vietnamese megaverse prompts
        ids = tokenizer(r["prompt"], return_tensors="pt")["input_ids"]
        with torch.no_grad():
            seq = model.generate(input_ids=ids, do_sample=False, max_new_tokens=100, pad_token_id=0)
            h = model(seq, output_hidden_states=True).hidden_states[-1][0]
        tokens = seq[0].tolist()
        doubled += [h[k] for k in range(ids.shape[1], len(tokens) - 1) if tokens[k] == newline]
        last.append(h[ids.shape[1] - 1])
    direction = torch.stack(doubled).mean(0) - torch.stack(last).mean(0)
    weights = out / "model.safetensors"
    state = load_file(str(weights))
    head = state["lm_head.weight"].clone()
    head[newline] = head[LOOP_TOKEN] * 1.02 + BLANK_LINE_GAIN * direction / direction.norm() * head.norm(dim=1).mean()
    state["lm_head.weight"] = head
    save_file(state, str(weights), metadata={"format": "pt"})
    return str(out), tokenizer


@pytest.mark.skipif(not (HAS_VLLM and MISTRAL and SHARED.is_dir()),
                    reason="needs vLLM, mistral-common's Mistral-7B tokenizer and ../shared/data")
def test_vllm_xlsum_reference_derived_equals_generated(chatty_twin):
    """On the vLLM CPU engine, real XL-Sum prompts: the reference outputs derived from megaverse's
    generation equal those generated with the stop, and maple.score's scores are identical."""
    from maple.generate.backends import VllmBackend
    from maple.generate.run import generate_outputs
    from maple.metrics import score_records

    path, tokenizer = chatty_twin
    requests = _xlsum_requests(tokenizer)
    assert all(r["max_new_tokens"] == 400 for r in requests)
    engine = VllmBackend(path, device="cpu", seed=0, max_model_len=4096)
    seen = []
    generate = engine.generate
    engine.generate = lambda batch, adapter=None: seen.extend(batch) or generate(batch, adapter)
    texts, sources = generate_outputs(engine, requests)
    ref = [i for i, r in enumerate(requests) if r["protocol"] == "reference"]
    assert all(sources[i] is not None for i in ref) and not any(r["protocol"] == "reference" for r in seen)
    direct = generate([requests[i] for i in ref])  # the reference requests sent with their stop
    derived = [texts[i] for i in ref]
    cut = [texts[i] != texts[sources[i]] for i in ref]
    print(json.dumps({"cut_by_stop": sum(cut), "of": len(ref), "at_0": sum(t == "" for t in derived)}))
    assert derived == direct
    assert any(cut), "no megaverse output contained a blank line: the test would pass vacuously"
    for lang in ("vietnamese", "indonesian"):
        recs = [{**requests[i], "output": t} for i, t in zip(ref, derived) if requests[i]["lang"] == lang]
        recs_direct = [{**requests[i], "output": t} for i, t in zip(ref, direct) if requests[i]["lang"] == lang]
        assert score_records("xlsum", lang, "reference", recs) == score_records("xlsum", lang, "reference", recs_direct)


# --- XNLI: the reference protocol reads the first non-empty line of megaverse's generation ----------

def _xnli_built(tmp_path, path):
    """Both protocols' requests for one shared XNLI file, built by the workflow's builder (hub layout:
    the rows as test, and as train for the shots)."""
    from maple.tasks.build import build_requests

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    lang = path.name.split(".")[1]
    for split in ("test", "train"):
        (tmp_path / lang).mkdir(exist_ok=True)
        (tmp_path / lang / f"{split}.jsonl").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    task_cfg = {"source": str(tmp_path), "data_files": "{config}/{split}.jsonl", "languages": [lang]}
    return lang, {p: build_requests("xnli", lang, p, task_cfg, cfg["seed"], prompt_cfg=cfg["prompt"])
                  for p in ("megaverse", "reference")}


def test_xnli_reference_requests_are_megaverses(tmp_path):
    """On every shared XNLI row the two protocols send the same request (prompt, stop, max_new_tokens):
    the engine generates it once (maple.generate.order.sent, what maple.plan counts)."""
    from conftest import shared_files

    for path in shared_files("xnli/test.*.jsonl"):
        lang, built = _xnli_built(tmp_path, path)
        mv, ref = built["megaverse"], built["reference"]
        assert len(mv) == len(ref) == len(path.read_text(encoding="utf-8").splitlines()) > 0
        assert [r["prompt"] for r in ref] == [r["prompt"] for r in mv], lang
        assert [r["id"] for r in ref] == [r["id"] for r in mv]
        assert all(r["stop"] == m["stop"] == ["\n"] for r, m in zip(ref, mv))
        assert all(r["max_new_tokens"] == m["max_new_tokens"] == 100 for r, m in zip(ref, mv))
        assert len(sent(mv + ref)) == len(mv)


def _xnli_outputs(answer: str, other: str, restated: str) -> list[str]:
    """Rambling XNLI outputs (tests/test_megaverse_fidelity.py's, plus line breaks splitlines honours
    but the "\\n" stop does not: "\\r", U+2028, NEL, form feed, and "\\r" right before the stop)."""
    return [
        answer, f" {answer}\n\n{restated}", f"{answer}. {restated[:80]} supports it.",
        f"\n{other}\nExplanation: {restated[:60]}", f"{restated}\nAnswer: {answer}", f"{answer}\r\n{restated}",
        f"{other}\u2028{answer}", f"...\n{answer}", f". \n{answer}",
        f"The answer is {other.lower()}.\n\n### Instruction:\nYou are an NLP assistant", "</s>", "",
        f"{answer}\x0c{other}", f"{other}\x85{answer}", f"  {answer.upper()}!!\n", f"I think it is {answer.lower()}, because",
        f"\n\n\n{other}.", "\n\n" + answer, ".\n" + answer, " . \n " + answer, "\r\n" + answer,
        answer + ".\n\n" + other, "\u2028\n" + answer, "</s>\n" + answer, answer + " </s>\n", "\t\n..\n" + answer,
        f"\r\r{answer}\n{other}", f"\u2028.\u2028{answer}\n{other}", f".\r{other}\n{answer}", f"{answer}\r",
        f"\r\n\r\n{answer}\r\n\r\n{other}", f" \x85 \n{answer}", f"\n\n{answer}\n\n{restated}",
    ]


def test_xnli_reference_first_line_stop_is_exact():
    """The reference protocol's "\\n" stop with megaverse's stop_settles never changes its score: a settled
    cut holds a character other than whitespace and ".", so a non-empty line, and the full output is
    cut + "\\n" + rest, whose str.splitlines starts with splitlines(cut) ("\\r\\n" joining is one break);
    so extract.first_line reads the same line from both. An unsettled cut is generated again without
    stops (the full output). Under the old stops ("\\n\\n" and the template header) an answer after a
    leading blank line was cut away: those outputs score differently now, as intended."""
    from maple.generate.backends import cut_at_stop
    from maple.generate.run import unsettled_by_stop
    from maple.metrics import score_records
    from maple.tasks.build import template_header
    from maple.tasks.extract import NO_ANSWER, xnli_reference
    from maple.tasks.prompts import XNLI_VERBALIZER
    from conftest import shared_files

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    old_stop = ["\n\n", template_header(cfg["prompt"])]
    rng = random.Random(0)
    pieces = ["\n", "\r", "\u2028", "\x85", "\x0c", ".", " ", "\t", "True", "False", "Neither", "x", "</s>"]
    n = regenerated = 0
    changed = set()
    for path in shared_files("xnli/test.*.jsonl"):
        lang = path.name.split(".")[1]
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        from maple.tasks.build import requests_from_rows
        from maple.tasks import get_task

        spec = get_task("xnli")
        reqs = requests_from_rows(spec, lang, "reference", [(f"r{i}", i, r) for i, r in enumerate(rows)],
                                  lambda _i: [], spec.max_new_tokens)
        for row, request in zip(rows, reqs):
            gold = request["gold"]
            verbs = request["choices"] or list(XNLI_VERBALIZER)
            restated = f"{row['premise']}\nQuestion: {row['hypothesis']} True, False, or Neither?"
            outputs = _xnli_outputs(verbs[gold], verbs[(gold + 1) % 3], restated)
            outputs += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(40)]
            for full in outputs:
                assert request["stop"] == ["\n"]
                cut = cut_at_stop(full, request["stop"])
                kept = full if unsettled_by_stop(request, cut) else cut  # what generate_unique returns
                regenerated += kept is full and cut != full
                assert xnli_reference(kept, request) == xnli_reference(full, request), (full, kept)
                ours = score_records("xnli", lang, "reference", [{**request, "output": kept}])[0]["accuracy"]
                assert ours == score_records("xnli", lang, "reference", [{**request, "output": full}])[0]["accuracy"]
                old = xnli_reference(cut_at_stop(full, old_stop), request)
                if old != xnli_reference(full, request):
                    changed.add(full if len(full) < 12 else "...")
                    assert old == NO_ANSWER  # the old stops only ever lost an answer after a blank line
                n += 1
    assert n > 1000 and regenerated > 0
    assert "\n\nTrue" in changed or "\n\nFalse" in changed or "\n\nNeither" in changed


# --- XQuAD and Belebele: the reference protocol is megaverse's generation cut at "\n\n" ----------------

# task: (shared file pattern, the file's split, the task config's extra settings)
SHARED_DERIVED = {
    "xquad": ("xquad/validation.*.jsonl", {"sources": {"squad": str(ROOT / "resources" / "eval" / "squad")}}),
    "belebele": ("belebele/test.*.jsonl", {}),
}


def _shared_built(task, path):
    """Both protocols' requests for one shared file, built by the workflow's builder with paper.yaml's seed
    and prompt (XQuAD's shots from the embedded SQuAD train rows, as in tests/test_tasks.py)."""
    from maple.tasks.build import build_requests

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    lang = path.name.split(".")[1]
    task_cfg = {"source": str(path.parent), "data_files": "{split}.{lang}.jsonl", "languages": [lang],
                **SHARED_DERIVED[task][1]}
    return lang, {p: build_requests(task, lang, p, task_cfg, cfg["seed"], prompt_cfg=cfg["prompt"])
                  for p in ("megaverse", "reference")}


@pytest.mark.parametrize("task,new_tokens", [("xquad", 100), ("belebele", 25)])
def test_reference_prompts_are_megaverses_and_derived(task, new_tokens):
    """On every shared row the two protocols' prompts are identical (MEGAVERSE's template, shots and
    instruction placement); reference stops at "\\n\\n" only, megaverse nowhere, with the same limits: every
    reference request is derived from megaverse's (stop_derivations) and each prompt is sent once."""
    from conftest import shared_files

    for path in shared_files(SHARED_DERIVED[task][0]):
        lang, built = _shared_built(task, path)
        mv, ref = built["megaverse"], built["reference"]
        assert len(mv) == len(ref) == len(path.read_text(encoding="utf-8").splitlines()) > 0
        assert [r["prompt"] for r in ref] == [r["prompt"] for r in mv], (task, lang)
        assert [(r["id"], r["gold"], r["choices"]) for r in ref] == [(r["id"], r["gold"], r["choices"]) for r in mv]
        assert all(r["stop"] == ["\n\n"] for r in ref) and all(r["stop"] == [] for r in mv)
        assert all(r["max_new_tokens"] == m["max_new_tokens"] == new_tokens for r, m in zip(ref, mv))
        assert stop_derivations(mv + ref) == {len(mv) + i: i for i in range(len(ref))}
        assert sorted(r["prompt"] for r in sent(mv + ref)) == sorted({r["prompt"] for r in mv})
        assert len(sent(mv + ref, derive_stops=False)) == 2 * len({r["prompt"] for r in mv})
        if task == "belebele":  # the log-likelihood option: the same (prompt, choices), scored once
            assert all(r["choices"] == ["(A)", "(B)", "(C)", "(D)"] for r in ref)
            assert {(r["prompt"], tuple(r["choices"])) for r in ref} == {(r["prompt"], tuple(r["choices"])) for r in mv}


def _rambling(answer: str, other: str) -> list[str]:
    return [
        answer, f"{answer}\n\n{other}", f"\n\n{answer}", f"  \n\n{answer}", f"\n{answer}\n\n{other}",
        f"The answer is {answer}.\n\n### Instruction:\n{other}", f"\r\n\r\n{answer}", f"{answer}\r\n\r\n{other}",
        f"{other}\u2028{answer}\n\n", f"\u2028\n\n{answer}", "", "\n\n", f"{answer}\n\n\n{other}",
        f"### Instruction: {answer}", f"Answer:\n\n{answer}", f" \t\n \n\n{answer}",
    ]


def test_reference_rules_read_the_cut_unless_it_is_blank():
    """What the "\\n\\n" stop changes in the reference scores: XQuAD's first non-empty line (extract.first_line)
    of the cut is the full output's whenever the cut holds a character other than whitespace (the cut's last
    line ends where "\\n\\n" starts, a "\\r" there joining it as one break); Belebele's first parsed option
    is the full output's whenever the cut names one (a match ends inside the cut, and a bracket or the
    character after a lone letter cannot be "\\n"-sensitive). Otherwise the cut scores no answer, as under
    the old stops ("\\n\\n" and the template header)."""
    from maple.metrics import score_records
    from maple.tasks.extract import NO_ANSWER, belebele_reference, first_line
    from conftest import shared_files

    rng = random.Random(0)
    pieces = ["\n", "\r", "\u2028", "\x85", " ", "\t", "(", ")", "A", "B", "3", "x", "Paris", ".", "Answer:"]
    n = lost = 0
    for task in SHARED_DERIVED:
        for path in shared_files(SHARED_DERIVED[task][0])[:2]:
            lang, built = _shared_built(task, path)
            for request in built["reference"][:10]:
                if task == "xquad":
                    answer, other = request["gold"][0], "Q: the next question"
                else:
                    answer, other = f"({'ABCD'[request['gold']]})", f"({'ABCD'[(request['gold'] + 1) % 4]})"
                outputs = _rambling(answer, other)
                outputs += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(30)]
                for full in outputs:
                    cut = derive_output(full, "\n\n")
                    n += 1
                    if task == "xquad":
                        same = first_line(cut) == first_line(full)
                        assert same or not cut.strip(), (full, cut)
                    else:
                        same = belebele_reference(cut, request) == belebele_reference(full, request)
                        assert same or belebele_reference(cut, request) == NO_ANSWER, (full, cut)
                    lost += not same
                    score = [score_records(task, lang, "reference", [{**request, "output": o}])[0] for o in (cut, full)]
                    assert not same or score[0] == score[1]
    assert n > 500 and lost > 0


@pytest.mark.skipif(MISTRAL is None, reason="mistral-common (Mistral-7B's tokenizer) not installed")
def test_a_stop_hidden_in_a_cut_byte_run_is_detected_with_mistrals_tokenizer():
    """Mistral-7B's SentencePiece has no "\\n" piece (<0x0A> is a byte token): "\\n\\n" followed by the
    first bytes of a byte-fallback character at the token limit decodes, in one call, to U+FFFD per
    byte, so the no-stop output shows no stop although generating with the stop cuts there."""
    from maple.generate.backends import output_text
    from maple.generate.order import stop_may_be_hidden
    from maple.plan.tokenizer import load_tokenizer

    tok = load_tokenizer(MISTRAL)
    newline = tok.convert_tokens_to_ids("<0x0A>")
    char = next(c for c in "擒攴鬣犇" if len(tok(c, add_special_tokens=False)["input_ids"]) >= 3)
    char_bytes = [t for t in tok(char, add_special_tokens=False)["input_ids"] if tok.convert_ids_to_tokens(t).startswith("<0x")]
    assert len(char_bytes) == 3  # the character is its three UTF-8 bytes
    head = tok("摘要", add_special_tokens=False)["input_ids"]
    cut = head + [newline, newline] + char_bytes[:2]  # the token limit falls inside the character
    whole = head + [newline, newline] + char_bytes
    with_stop = head + [newline, newline]  # generating with the stop ends at the token completing it
    stop = "\n\n"
    assert "\n\n" not in output_text(tok, cut, []) and stop_may_be_hidden(output_text(tok, cut, []), stop)
    assert derive_output(output_text(tok, cut, []), stop) != output_text(tok, with_stop, [stop])
    # the same run completed shows its stop, and a character cut alone hides nothing
    assert not stop_may_be_hidden(output_text(tok, whole, []), stop)
    assert derive_output(output_text(tok, whole, []), stop) == output_text(tok, with_stop, [stop])
    assert not stop_may_be_hidden(output_text(tok, head + char_bytes[:2], []), stop)


def test_a_source_that_may_hide_the_stop_is_not_derived():
    from maple.generate.run import generate_outputs

    class HiddenEngine(FakeEngine):
        @staticmethod
        def full(prompt):
            return {"h": "summary\ufffd\ufffd\ufffd\ufffd", "k": "summary\ufffd\ufffd"}[prompt[0]]

    reqs = [_req("h", protocol="megaverse", id="h"), _req("h", ["\n\n"], protocol="reference", id="h"),
            _req("k", protocol="megaverse", id="k"), _req("k", ["\n\n"], protocol="reference", id="k")]
    engine = HiddenEngine()
    texts, sources = generate_outputs(engine, reqs)
    assert sources == [None, None, None, 2]  # h's reference sent: its source may hide "\n\n"; k's derived
    assert [(r["id"], r["protocol"]) for r in engine.sent] == [("h", "megaverse"), ("k", "megaverse"), ("h", "reference")]
    assert texts[1] == HiddenEngine().generate([reqs[1]])[0]
