"""Generation: vLLM merged vs multi_lora give the same greedy outputs; vLLM agrees with HF generate."""

import importlib.util
import json
from pathlib import Path

import pytest
from maple import config as maple_config

from conftest import ROOT, train_cfg

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")

VLLM_BUILD = {"architecture": "mistral", "hidden_size": 256, "layers": 2, "heads": 4, "kv_heads": 2, "vocab_size": 1024}


@pytest.fixture(scope="module")
def settings():
    config = maple_config.load(ROOT / "config.yaml", ROOT)
    evaluation = config["evaluation"]
    evaluation["max_examples"] = 2
    evaluation["tasks"] = {
        "xnli": {**evaluation["tasks"]["xnli"], "languages": ["th"]},
        "xquad": {**evaluation["tasks"]["xquad"], "languages": ["zh"]},
        "alpaca_eval": {**evaluation["tasks"]["alpaca_eval"], "max_new_tokens": 16},
    }
    for task in evaluation["tasks"].values():
        task["source"] = str(ROOT / task["source"])
    return {"evaluation": evaluation, "prompt": config["prompt"], "seed": 0, "device": "cpu", "trust_remote_code": False}


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory, tiny_corpus):
    from maple.data.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("vllm") / "model"
    build_tiny_model(str(out), VLLM_BUILD, [str(tiny_corpus), str(ROOT / "resources" / "eval")], seed=0)
    return str(out)


@pytest.fixture(scope="module")
def adapter_and_merged(tmp_path_factory, vllm_model, tiny_corpus):
    from maple.data.prepare import download_dataset, tokenise_raw
    from maple.train.merge import merge_adapter
    from maple.train.trainer import train_adapter

    from conftest import PROMPT

    root = tmp_path_factory.mktemp("gen")
    ds_cfg = {"source": {"path": str(tiny_corpus), "data_files": "{lang}.jsonl"}, "languages": ["en", "th"], "size": 16}
    download_dataset("t", ds_cfg, 0, str(root / "raw"))
    tokenise_raw(str(root / "raw"), {"path": vllm_model}, PROMPT, str(root / "tok"))
    train_adapter("m/t/r8-b16", {"path": vllm_model}, train_cfg(learning_rate=2e-2), str(root / "tok"), str(root / "adapter"), str(root / "ck"))
    merge_adapter("m/t/r8-b16", {"path": vllm_model}, str(root / "adapter"), str(root / "merged"), 16)
    return str(root / "adapter"), str(root / "merged")


def _outputs(path):
    from maple.io import read_jsonl

    return {(r["task"], r["lang"], r["protocol"], r["id"]): r["output"] for r in read_jsonl(path)}


def test_merged_and_multi_lora_give_the_same_greedy_outputs(tmp_path, vllm_model, adapter_and_merged, settings):
    """An adapter served by LoRA equals its merged checkpoint; the base cell served by the same
    LoRA-enabled group engine (requests without a LoRARequest, as the workflow's multi_lora groups
    serve it, maple.grid.group_rank) equals a plain engine without LoRA. The adapter changes outputs,
    so a base request sent with an adapter would fail the second comparison."""
    from maple.generate.run import generate_cell, generate_group
    from maple.grid import parse_cell
    from maple.io import read_jsonl
    from maple.paths import group_member_file

    adapter, merged = adapter_and_merged
    tasks = list(settings["evaluation"]["tasks"])
    merged_files = {t: str(tmp_path / "merged" / f"{t}.jsonl") for t in tasks}
    generate_cell("m/t/r8-b16", {"path": vllm_model}, merged, merged_files, settings)
    # the group as the workflow plans it: the adapter's cell, then the model's base cell (no adapter)
    summaries = generate_group(["m/t/r8-b16", "m/none/base"], [adapter], {"path": vllm_model},
                               str(tmp_path / "group"), settings)
    assert list(summaries) == ["m/t/r8-b16", "m/none/base"]
    base_files = {t: str(tmp_path / "base" / f"{t}.jsonl") for t in tasks}
    generate_cell("m/none/base", {"path": vllm_model}, vllm_model, base_files, settings)  # plain engine, no LoRA
    cell, base = parse_cell("m/t/r8-b16"), parse_cell("m/none/base")
    changed = 0
    for task in tasks:
        via_merged = _outputs(merged_files[task])
        via_lora = _outputs(group_member_file(str(tmp_path / "group"), cell, task))
        assert via_merged == via_lora, task
        plain_base = _outputs(base_files[task])
        group_base = _outputs(group_member_file(str(tmp_path / "group"), base, task))
        assert group_base == plain_base, task
        changed += sum(a != b for a, b in zip(via_merged.values(), plain_base.values()))
        generator = read_jsonl(group_member_file(str(tmp_path / "group"), base, task))[0]["generator"]
        assert generator["mode"] == "base" and "adapter" not in generator and generator["served_as"] == "base model"
    assert changed > 0  # the adapter changes outputs: the comparisons are not vacuous


def test_prebuilt_requests_are_the_jobs_own_and_give_the_same_outputs(tmp_path, vllm_model, adapter_and_merged, settings):
    """device cuda: a task's requests built once for the model (rule build_requests, the base's tokenizer)
    are exactly what a merged cell's job builds with its checkpoint's tokenizer, their stored token ids
    are what the served tokenizer gives, and the raw outputs are the same rows; a file built with other
    settings or another tokenizer is not used, and ids of other prompts or another tokenizer are refused."""
    from maple.generate import prebuilt
    from maple.generate.run import build_model_requests, cell_requests, generate_cell, job_requests, request_budget
    from maple.io import read_jsonl, write_jsonl

    _, merged = adapter_and_merged
    model = {"path": vllm_model}
    path, ids_path = str(tmp_path / "requests.jsonl"), str(tmp_path / "requests.ids.npz")
    budget = request_budget(settings, model, merged)
    own = cell_requests(settings, budget)
    assert build_model_requests(settings, model, path, ids_path) == len(own) > 0
    requests, source, ids = job_requests(settings, model, merged, path, ids_path)
    assert source == f"prebuilt: {path}, token ids: {ids_path}" and requests == prebuilt.normalised(own)
    prompts = prebuilt.distinct_prompts(own)
    assert len(ids) == len(prompts) < len(own)  # protocols share prompts: each stored once
    assert [ids.get(p) for p in prompts] == [budget.tokenizer(p)["input_ids"] for p in prompts]
    tasks = list(settings["evaluation"]["tasks"])
    files = {via: {t: str(tmp_path / via / f"{t}.jsonl") for t in tasks} for via in ("prebuilt", "own")}
    summary = generate_cell("m/t/r8-b16", model, merged, files["prebuilt"], settings, path, ids_path)
    assert summary["requests_from"] == f"prebuilt: {path}, token ids: {ids_path}"
    assert generate_cell("m/t/r8-b16", model, merged, files["own"], settings)["requests_from"] == "built in this job"
    for task in tasks:
        assert read_jsonl(files["prebuilt"][task]) == read_jsonl(files["own"][task]), task
    # written in chunks of prompts: the same ids as in one batch
    prebuilt.write_ids(str(tmp_path / "chunked.ids.npz"), own, budget.tokenizer, chunk=3)
    chunked = prebuilt.read_ids(str(tmp_path / "chunked.ids.npz"), own, prebuilt.tokenizer_fingerprint(budget.tokenizer))
    assert [chunked.get(p) for p in prompts] == [ids.get(p) for p in prompts]
    # ids stored for other prompts, or with another tokenizer, are refused
    with pytest.raises(ValueError, match="other prompts"):
        prebuilt.read_ids(ids_path, own[1:] if own[0]["prompt"] != own[1]["prompt"] else own[2:],
                          prebuilt.tokenizer_fingerprint(budget.tokenizer))
    with pytest.raises(ValueError, match="another tokenizer"):
        prebuilt.read_ids(ids_path, own, "0" * 64)
    # a file that is not this job's: other settings, or fitted with another tokenizer
    _, source, ids = job_requests({**settings, "seed": 1}, model, merged, path, ids_path)
    assert source.startswith("built in this job") and "settings" in source and ids is None
    rows = read_jsonl(path)
    rows[0][prebuilt.HEADER]["tokenizer_sha256"] = "0" * 64
    write_jsonl(path, rows)
    mine, source, ids = job_requests(settings, model, merged, path, ids_path)
    assert "tokenizer" in source and mine == own and ids is None
    with pytest.raises(ValueError, match="header says"):
        write_jsonl(path, rows[:-1])
        prebuilt.read(path)


def test_a_task_group_gives_each_tasks_own_job_outputs_on_one_engine(tmp_path, vllm_model, adapter_and_merged, settings):
    """evaluation.task_groups: one job serves a cell's grouped tasks on one engine, one task after
    another (a prefix cache warm from the previous task, one task's ids read from its prebuilt file);
    every task's raw rows equal its own job's."""
    from maple import grid
    from maple.generate.run import build_model_requests, generate_cell, generate_cell_tasks
    from maple.io import read_jsonl

    _, merged = adapter_and_merged
    model = {"path": vllm_model}
    per_task = {t: {**settings, "evaluation": {**settings["evaluation"], "tasks": {t: c}}}
                for t, c in settings["evaluation"]["tasks"].items()}
    assert len(per_task) == 3
    built = (str(tmp_path / "xquad.jsonl"), str(tmp_path / "xquad.ids.npz"))
    build_model_requests(per_task["xquad"], model, *built)
    group_dir = str(tmp_path / "group")
    summaries = generate_cell_tasks("m/t/r8-b16", model, merged, group_dir, per_task, {"xquad": built})
    assert summaries["xquad"]["requests_from"].startswith("prebuilt") and summaries["xnli"]["requests_from"] == "built in this job"
    assert set(json.loads(Path(group_dir, "generation.json").read_text())["tasks"]) == set(per_task)
    cell = grid.parse_cell("m/t/r8-b16")
    for task, task_settings in per_task.items():
        own = str(tmp_path / "own" / f"{task}.jsonl")
        generate_cell("m/t/r8-b16", model, merged, {task: own}, task_settings)
        assert read_jsonl(f"{group_dir}/{cell.member}/{task}.jsonl") == read_jsonl(own), task
    # tasks that would need different engines are not grouped
    other = {**per_task, "xnli": {**per_task["xnli"], "seed": 1}}
    with pytest.raises(ValueError, match="different engines"):
        generate_cell_tasks("m/t/r8-b16", model, merged, str(tmp_path / "bad"), other)


def test_known_prompt_ids_are_read_not_tokenised():
    """backends.prompt_ids answers the prompts a job's ids file holds without calling the tokenizer,
    and tokenises only the others, in their places."""
    import numpy as np

    from maple.generate.backends import prompt_ids
    from maple.generate.prebuilt import PromptIds

    class Counting:
        is_fast = True
        calls: list = []

        def __call__(self, texts):
            self.calls.append(texts)
            return {"input_ids": [[len(t)] for t in texts] if isinstance(texts, list) else [len(texts)]}

    known = PromptIds(["a", "bb"], np.array([5, 6, 7], dtype=np.uint16), np.array([0, 1, 3]))
    tok = Counting()
    assert prompt_ids(tok, ["bb", "a", "bb"], known) == [[6, 7], [5], [6, 7]] and tok.calls == []
    assert prompt_ids(tok, ["a", "ccc"], known) == [[5], [3]] and tok.calls == [["ccc"]]
    assert all(type(t) is int for t in prompt_ids(tok, ["bb"], known)[0])  # vLLM's TokensPrompt takes ints


def test_vllm_and_hf_backends_agree_on_greedy_outputs(vllm_model, settings):
    from maple.generate.backends import make_backend
    from maple.generate.run import cell_requests

    requests = cell_requests(settings)
    hf = make_backend("hf", vllm_model).generate(requests)
    vl = make_backend("vllm", vllm_model, max_model_len=2048).generate(requests)
    same = sum(a == b for a, b in zip(hf, vl))
    # fp32 on both sides, but different kernels: an untrained model's near-ties can flip a greedy
    # step (seen: 10 of 12 identical); anything far below that is a real disagreement
    assert same >= 0.75 * len(requests), [(a, b) for a, b in zip(hf, vl) if a != b][:3]


def test_vllm_outputs_are_their_token_ids_decoded_in_one_call(vllm_model, settings):
    """MEGAVERSE's decoding (hf_model_completion: batch_decode of the new ids, skip_special_tokens) on
    outputs that run to the token limit, on CJK (XQuAD zh, no stop). vLLM's own incremental text loses
    the last characters when the limit cuts a multi-byte character; the test needs such an output."""
    from transformers import AutoTokenizer
    from vllm import SamplingParams, TokensPrompt

    from maple.generate.backends import make_backend
    from maple.generate.run import cell_requests

    requests = [r for r in cell_requests(settings) if r["task"] == "xquad" and not r.get("stop")]
    assert requests
    backend = make_backend("vllm", vllm_model, max_model_len=2048)
    texts = backend.generate(requests)
    tokenizer = AutoTokenizer.from_pretrained(vllm_model)
    raw = backend.llm.generate([TokensPrompt(prompt_token_ids=tokenizer(r["prompt"])["input_ids"]) for r in requests],
                               SamplingParams(temperature=0.0, max_tokens=requests[0]["max_new_tokens"]), use_tqdm=False)
    decoded = tokenizer.batch_decode([list(o.outputs[0].token_ids) for o in raw], skip_special_tokens=True)
    assert texts == decoded
    assert any(o.outputs[0].text != d for o, d in zip(raw, decoded)), "no output cut inside a character"


def test_choice_loglikelihoods_agree_between_backends(vllm_model, settings):
    from maple.generate.backends import make_backend
    from maple.generate.run import cell_requests

    requests = [r for r in cell_requests(settings) if r.get("choices")][:4]
    assert requests
    hf = make_backend("hf", vllm_model).choice_logprobs(requests)
    vl = make_backend("vllm", vllm_model, max_model_len=2048).choice_logprobs(requests)
    for a, b in zip(hf, vl):
        assert len(a) == len(b) and all(abs(x - y) < 1e-3 * max(1.0, abs(x)) for x, y in zip(a, b))


def test_loglikelihoods_through_a_lora_adapter_agree_with_peft(vllm_model, adapter_and_merged, settings):
    """vLLM CPU with an unmerged adapter (maple's LoRA ops) against HF + peft on the same adapter."""
    from maple.generate.backends import Adapter, make_backend
    from maple.generate.run import cell_requests

    adapter_dir, _ = adapter_and_merged
    adapter = Adapter("m/t/r8-b16", 1, adapter_dir, 8)
    requests = [r for r in cell_requests(settings) if r.get("choices")][:4]
    hf_backend = make_backend("hf", vllm_model)
    hf = hf_backend.choice_logprobs(requests, adapter)
    base = hf_backend.choice_logprobs(requests)
    vl = make_backend("vllm", vllm_model, max_model_len=2048, lora_rank=8).choice_logprobs(requests, adapter)
    for a, b in zip(hf, vl):
        assert len(a) == len(b) and all(abs(x - y) < 1e-3 * max(1.0, abs(x)) for x, y in zip(a, b))
    assert any(abs(x - y) > 1e-2 for a, b in zip(hf, base) for x, y in zip(a, b))  # the adapter matters


def test_a_cell_fits_a_small_context_and_an_overlong_prompt_does_not_fail_the_job(tmp_path, vllm_model, settings):
    """Budgeting with the model's own tokenizer: at max_model_len 256 shots are dropped and passages cut,
    every prompt fits, and the vLLM backend answers a prompt that does not fit with "" instead of raising."""
    from maple.generate.backends import make_backend
    from maple.generate.run import generate_cell
    from maple.io import read_jsonl
    from maple.models import load_tokenizer

    tasks = list(settings["evaluation"]["tasks"])
    files = {t: str(tmp_path / f"{t}.jsonl") for t in tasks}
    generate_cell("m/none/base", {"path": vllm_model, "max_model_len": 256}, vllm_model, files, settings)
    tok = load_tokenizer(vllm_model)
    records = [r for t in tasks for r in read_jsonl(files[t])]
    assert any(r["shots_used"] < r["shots"] for r in records)
    for r in records:
        assert len(tok(r["prompt"])["input_ids"]) == r["prompt_tokens"]
        assert r["failed"] or r["prompt_tokens"] + r["max_new_tokens"] <= 256

    backend = make_backend("vllm", vllm_model, max_model_len=128)
    short = {"task": "t", "lang": "en", "id": "a", "prompt": "The sky is", "max_new_tokens": 4, "stop": []}
    long = {**short, "id": "b", "prompt": "word " * 400}
    out = backend.generate([long, short])
    assert out[0] == "" and out[1] != ""


def _zeroed_adapter(adapter_dir, out_dir):
    """The adapter with its lora_B weights zeroed: served, it answers exactly as the base model does
    (what a LoRA request silently served by the base looks like, lm-evaluation-harness issue 2432)."""
    import shutil
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter_dir, out_dir)
    weights = Path(out_dir) / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    save_file({k: v.zero_() if "lora_B" in k else v for k, v in tensors.items()}, str(weights))
    return str(out_dir)


def test_served_model_check_passes_the_trained_adapter_and_flags_one_answered_by_the_base(
        tmp_path, vllm_model, adapter_and_merged, settings):
    """Generation as the workflow runs it (one multi_lora group serving a trained adapter, the same
    adapter with lora_B zeroed, which answers exactly as the base model does, lm-evaluation-harness
    issue 2432, and the base cell without adapter); the check then reads those recorded outputs."""
    from maple.generate.check import check_cell, probe_task
    from maple.generate.run import generate_group
    from maple.grid import parse_cell
    from maple.io import read_jsonl
    from maple.paths import group_member_file

    adapter, _ = adapter_and_merged
    inert = _zeroed_adapter(adapter, tmp_path / "inert")
    task = probe_task(settings["evaluation"]["tasks"])
    assert task == "alpaca_eval"
    one_task = {**settings, "evaluation": {**settings["evaluation"], "max_examples": 4,
                                           "tasks": {task: settings["evaluation"]["tasks"][task]}}}
    cells = ["m/t/r8-b16", "m/u/r8-b16", "m/none/base"]  # trained, zeroed, the base cell
    generate_group(cells, [adapter, inert], {"path": vllm_model}, str(tmp_path / "group"), one_task)
    trained, zeroed, base = (read_jsonl(group_member_file(str(tmp_path / "group"), parse_cell(c), task))
                             for c in cells)

    def check(cell, mode, records, name, **kw):
        return check_cell(cell, mode, {"path": vllm_model}, records, one_task, str(tmp_path / name), sample=4, **kw)

    # multi_lora: the base from the base cell's records, the merged adapter decoded in memory by HF
    good = check("m/t/r8-b16", "multi_lora", trained, "good.json", adapter_dir=adapter, base_records=base)
    assert good["passed"], good["reason"]
    assert good["sample"] == 4 and good["differs_from_base"] >= 1 and good["equals_merged"] == 4
    assert good["base_recorded"] == 4 and good["decoded_with"] == ["hf (adapter merged in memory)"]
    bad = check("m/u/r8-b16", "multi_lora", zeroed, "bad.json", adapter_dir=inert, base_records=base)
    assert not bad["passed"] and bad["differs_from_base"] == 0 and "base model" in bad["reason"]
    assert bad["equals_merged"] == 4  # the zeroed adapter merged is the base too
    # outputs recorded from another adapter than the cell's: they differ from the base but not from its merge
    swapped = check("m/u/r8-b16", "multi_lora", trained, "swapped.json", adapter_dir=inert, base_records=base)
    assert not swapped["passed"] and swapped["equals_merged"] < 2 and "merged adapter" in swapped["reason"]
    # a multi_lora group's checks in one job: each cell's record as its own job writes it, at its group path
    from maple.generate.check import check_group
    from maple.paths import group_served_check_file

    check_group([("m/t/r8-b16", trained, adapter), ("m/u/r8-b16", zeroed, inert)], {"path": vllm_model},
                one_task, str(tmp_path / "checks"), base_records=base, sample=4)
    for cell, alone in (("m/t/r8-b16", good), ("m/u/r8-b16", bad)):
        grouped = json.loads(Path(group_served_check_file(str(tmp_path / "checks"), parse_cell(cell))).read_text())
        for key in ("cell", "mode", "sample", "rows", "differs_from_base", "equals_merged", "passed", "reason"):
            assert grouped[key] == alone[key], (cell, key)
    # merged mode serves the merged checkpoint: its records against the base cell's, no model loaded
    merged_mode = check("m/t/r8-b16", "merged", trained, "merged.json", base_records=base)
    assert merged_mode["passed"] and merged_mode["equals_merged"] is None and merged_mode["decoded_with"] == []
    assert [r["served"] for r in merged_mode["rows"]] == [r["served"] for r in good["rows"]]
    # no base cell in the grid: the sample is decoded by the base, and base-like outputs still fail
    no_base = check("m/u/r8-b16", "merged", zeroed, "no_base.json")
    assert not no_base["passed"] and no_base["differs_from_base"] == 0
    assert no_base["base_recorded"] == 0 and no_base["decoded_with"] == ["vllm"]


def test_an_adapter_in_a_larger_rank_group_gives_the_same_outputs(vllm_model, adapter_and_merged, settings):
    """On CPU one multi_lora group per model serves every rank (maple.grid.group_rank): a rank-8
    adapter on an engine sized for rank 16 (its LoRA weights zero-padded) gives the same greedy
    outputs as on an engine sized for rank 8, and log-likelihoods with the same argmax that differ
    only in fp32 rounding (seen: up to 2e-6 relative, as two identical requests in one CPU LoRA
    engine already differ: the LoRA kernels' sums depend on the batch)."""
    from maple.generate.backends import Adapter, make_backend
    from maple.generate.run import cell_requests, generate_unique

    adapter_dir, _ = adapter_and_merged
    adapter = Adapter("m/t/r8-b16", 1, adapter_dir, 8)
    requests = cell_requests(settings)
    choices = [r for r in requests if r.get("choices")][:4]
    results = []
    for rank in (8, 16):
        backend = make_backend("vllm", vllm_model, max_model_len=2048, lora_rank=rank)
        results.append((generate_unique(backend, requests, adapter), backend.choice_logprobs(choices, adapter)))
        del backend
    (out8, ll8), (out16, ll16) = results
    assert out8 == out16
    for a, b in zip(ll8, ll16):
        assert a.index(max(a)) == b.index(max(b))
        assert all(abs(x - y) <= 1e-5 * max(1.0, abs(x)) for x, y in zip(a, b))


def test_served_check_probes_the_most_open_ended_kind_configured():
    """By the spec's kind, not a list of names: instruction, then summarisation, extractive QA,
    multiple choice; config order among tasks of one kind."""
    from maple.generate.check import probe_task

    assert probe_task(["xnli", "xquad", "alpaca_eval", "xlsum"]) == "alpaca_eval"
    assert probe_task(["xnli", "mlqa", "xlsum"]) == "xlsum"
    assert probe_task(["belebele", "mlqa", "xquad"]) == "mlqa"
    assert probe_task(["xcopa", "belebele", "xnli"]) == "xcopa"
