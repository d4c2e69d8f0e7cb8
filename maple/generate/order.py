"""The order a job sends its prompts in, so vLLM's prefix cache shares what prompts share.

Prompts sorted as strings put every prompt next to those sharing its longest prefix: a task x
language's instruction and shots, then a passage's questions (Belebele, XQuAD, MLQA lay out the
passage before the question). A shared prefix is then computed once and stays cached while it is
used (vLLM evicts least recently used blocks). Greedy outputs do not depend on the order
(tests/test_prefix_cache.py); callers put results back in their own order."""

from __future__ import annotations


def cache_order(prompts: list[str]) -> list[int]:
    """Indices of `prompts` in send order (stable: equal prompts keep their order)."""
    return sorted(range(len(prompts)), key=prompts.__getitem__)


def in_cache_order(run, requests: list[dict]) -> list:
    """run() on `requests` sent in cache order; results come back in the caller's order."""
    order = cache_order([r["prompt"] for r in requests])
    results = run([requests[i] for i in order])
    out = [None] * len(requests)
    for i, result in zip(order, results):
        out[i] = result
    return out


def sent(requests: list[dict]) -> list[dict]:
    """The requests a job's engine receives for `requests`, in order, as generate_unique sends them:
    failed ones dropped, each (prompt, limits) once, in cache order (what maple.plan counts)."""
    from maple.generate.backends import generation_key

    unique, seen = [], set()
    for r in requests:
        key = (r["prompt"], *generation_key(r))
        if not r.get("failed") and key not in seen:
            seen.add(key)
            unique.append(r)
    return [unique[i] for i in cache_order([r["prompt"] for r in unique])]
