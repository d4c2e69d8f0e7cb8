"""vLLM's automatic prefix cache on maple's real prompts (Mistral-7B's tokenizer, ../shared/data):
the plan's prediction against vLLM's own counters, and outputs unchanged by caching and by order."""

import importlib.util
import random
from pathlib import Path

import pytest
import yaml

from maple.plan.prefix_cache import PrefixCache, cached_tokens
from maple.plan.tokenizer import mistral_v1_model

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PAPER = ROOT / "config" / "paper.yaml"
MISTRAL = mistral_v1_model()
needs_engine = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None or MISTRAL is None or not SHARED.is_dir(),
    reason="needs vLLM, mistral-common's Mistral-7B tokenizer and ../shared/data",
)
# one job's worth of each cache shape: shots shared (XNLI), passages (Belebele), long shots + passages (XQuAD)
JOB = [("xnli", "de", "test.de.jsonl", None), ("belebele", "eng_Latn", "test.eng_Latn.jsonl", None),
       ("xquad", "ar", "validation.ar.jsonl", None)]


def test_block_counting_follows_vllm():
    """Chained full blocks, a hit stops at the first miss, and never covers the last prompt token."""
    a = list(range(40))  # two full 16-token blocks and 8 tokens over
    assert cached_tokens([a, a + [99] * 10, a, list(range(16)) + [7] * 24, list(range(32))], 16) == [0, 32, 32, 16, 16]
    # a block equal to a cached one but after another parent is not a hit
    assert cached_tokens([[1] * 16 + [2] * 16 + [0], [3] * 16 + [2] * 16 + [0]], 16) == [0, 0]
    cache = PrefixCache(16)
    cache.add(a, read=False)  # a prompt-logprobs request writes blocks without reading them
    assert cache.add(a, read=False) == 0 and cache.add(a) == 32


def _requests(budget):
    from maple.plan import core

    cfg = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    requests = []
    for task, lang, name, shots in JOB:
        for protocol in cfg["evaluation"]["protocols"]:
            rows = core.read_rows(str(SHARED / task / name), task)
            built, _ = core.plan_requests(task, lang, protocol, rows, None, cfg["evaluation"]["tasks"][task],
                                          cfg["prompt"], cfg["seed"], budget)
            requests += built
    for r in requests:
        r["max_new_tokens"] = 4  # prefill is what is measured; a random model's outputs run to the limit
    return requests


@pytest.fixture(scope="module")
def engine_setup(tmp_path_factory):
    from maple.data.tiny_model import build_tokenizer_twin
    from maple.plan.tokenizer import load_tokenizer
    from maple.tasks.budget import Budget

    tokenizer = load_tokenizer(MISTRAL)
    out = tmp_path_factory.mktemp("twin") / "model"
    build_tokenizer_twin(str(out), tokenizer)
    return str(out), _requests(Budget(tokenizer, 4096)), tokenizer


def _backend(path, **kw):
    from maple.generate.backends import VllmBackend

    return VllmBackend(path, device="cpu", seed=0, max_model_len=4096, **kw)


@needs_engine
def test_vllm_counters_match_the_plan_and_caching_changes_no_output(engine_setup):
    from maple.generate.order import sent, stop_derivations
    from maple.generate.run import choice_extras, generate_outputs, generate_unique

    path, requests, tokenizer = engine_setup
    engine = _backend(path, log_stats=True)
    outputs, sources = generate_outputs(engine, requests)
    counters = engine.prefix_cache_counters()
    # what the plan counts, then any derivable request whose source may hide its stop in a cut byte run
    # (order.stop_may_be_hidden): sent after the others. The random twin writes such runs; a real model seldom
    resent = [requests[i] for i in stop_derivations(requests) if sources[i] is None]
    ids = [tokenizer(r["prompt"])["input_ids"] for r in sent(requests) + sent(resent, derive_stops=False)]
    predicted = sum(cached_tokens(ids, engine.block_size()))
    print(f"block {engine.block_size()}: prompt tokens {sum(map(len, ids))}, vLLM queries {counters['queries']}, "
          f"vLLM hits {counters['hits']}, plan {predicted}")
    assert counters["queries"] == sum(map(len, ids))  # the plan counts the prompts vLLM is sent
    assert predicted > 0 and abs(counters["hits"] - predicted) <= 0.10 * predicted
    settings = {"evaluation": {"loglikelihood": True}}
    mc = [r for r in requests if r.get("choices")]
    scores = choice_extras(engine, mc, settings)
    before = engine.prefix_cache_counters()
    reversed_scores = choice_extras(engine, mc[::-1], settings)[::-1]
    assert engine.prefix_cache_counters()["hits"] == before["hits"]  # log-likelihood requests read no cache
    del engine

    plain = _backend(path, prefix_caching=False)
    assert generate_unique(plain, requests) == outputs
    # the cache order changes no output: the same requests in the order they were built
    live = [r for r in requests if not r["failed"]]
    assert plain.generate(live) == [o for r, o in zip(requests, outputs) if not r["failed"]]
    shuffled = list(range(len(mc)))
    random.Random(0).shuffle(shuffled)
    plain_scores = choice_extras(plain, [mc[i] for i in shuffled], settings)
    unshuffled = [None] * len(mc)
    for k, i in enumerate(shuffled):
        unshuffled[i] = plain_scores[k]
    # bit-identical log-likelihoods across request orders and with the cache on and off
    assert scores == reversed_scores, _largest_difference(scores, reversed_scores)
    assert scores == unshuffled, _largest_difference(scores, unshuffled)


def _largest_difference(a, b):
    return max(abs(x - y) for ea, eb in zip(a, b) for x, y in zip(ea["choice_logprobs"], eb["choice_logprobs"]))


@needs_engine
def test_a_reset_prefix_cache_is_a_fresh_engines(engine_setup):
    """A task group's job empties vLLM's prefix cache before each next task (run.generate_cell_tasks):
    the same prompts sent again after the reset find no block cached."""
    from maple.generate.run import generate_unique

    path, requests, _ = engine_setup
    engine = _backend(path, log_stats=True)
    sample = [r for r in requests if not r.get("failed")][:6]
    generate_unique(engine, sample)
    first = engine.prefix_cache_counters()
    generate_unique(engine, sample)
    warm = engine.prefix_cache_counters()
    assert warm["hits"] - first["hits"] > 0  # the cache holds the first pass's blocks
    engine.reset_prefix_cache()
    generate_unique(engine, sample)
    cold = engine.prefix_cache_counters()
    assert cold["hits"] - warm["hits"] == first["hits"], (first, warm, cold)  # as the first pass: only within it
