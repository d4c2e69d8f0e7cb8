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


def derivable_stop(request: dict) -> str | None:
    """The one stop string of a request whose output can be derived from a no-stop output, else None.
    Exactly one: with several, vLLM ends at the stop that completes first in the text
    (vllm.v1.engine.detokenizer.check_stop_strings), which is not always the one that starts first."""
    stop = request.get("stop") or []
    return stop[0] if len(stop) == 1 and stop[0] else None


def derive_output(no_stop_output: str, stop: str) -> str:
    """vLLM's output with `stop` (include_stop_str_in_output false) from its greedy output without stops:
    the text before the first occurrence of `stop`, or all of it. vLLM's detokenizer only appends text,
    and after each step it looks for the stop in a window reaching back len(stop) - 1 characters before
    the new text, so the first occurrence is where it cuts; the tokens before it are the same greedy tokens."""
    i = no_stop_output.find(stop)
    return no_stop_output if i == -1 else no_stop_output[:i]


def stop_may_be_hidden(no_stop_output: str, stop: str) -> bool:
    """Whether decoding in one call (backends.output_text) may have hidden a stop that the engine's
    incremental text shows, so that derive_output would cut later than generating with the stop does.
    Byte-fallback tokenizers (Llama-2, Mistral: "\n" is the byte token <0x0A>) decode a run of byte
    tokens holding a cut or invalid character into one U+FFFD per byte, the stop's bytes included,
    while the engine has already streamed the run's valid start. Such a run is at least the stop's
    bytes plus one long and lies before the stop's first visible occurrence; a request whose source
    has one is generated, not derived."""
    i = no_stop_output.find(stop)
    before = no_stop_output if i == -1 else no_stop_output[:i]
    return "\ufffd" * (len(stop.encode("utf-8")) + 1) in before


def stop_derivations(requests: list[dict]) -> dict[int, int]:
    """i -> j for live requests: request i has one stop string (derivable_stop) and its prompt and every
    other generation setting equal those of request j, which has no stop strings. i's output is then
    derive_output(j's output, i's stop) and i is not sent (XL-Sum's reference protocol from megaverse's)."""
    from maple.generate.backends import generation_key

    def key(r):
        return (r["prompt"], *generation_key({**r, "stop": []}))

    sources = {}
    for j, r in enumerate(requests):
        if not r.get("failed") and not r.get("stop"):
            sources.setdefault(key(r), j)
    out = {}
    for i, r in enumerate(requests):
        if not r.get("failed") and derivable_stop(r) is not None and key(r) in sources:
            out[i] = sources[key(r)]
    return out


def sent(requests: list[dict], derive_stops: bool = True) -> list[dict]:
    """The requests a job's engine receives for `requests`, in order, as generate_unique sends them:
    failed ones dropped, those derived from a no-stop output dropped (derive_stops: the vLLM backend's
    rule, which the plan assumes), each (prompt, limits) once, in cache order (what maple.plan counts)."""
    from maple.generate.backends import generation_key

    derived = stop_derivations(requests) if derive_stops else {}
    unique, seen = [], set()
    for i, r in enumerate(requests):
        key = (r["prompt"], *generation_key(r))
        if not r.get("failed") and i not in derived and key not in seen:
            seen.add(key)
            unique.append(r)
    return [unique[i] for i in cache_order([r["prompt"] for r in unique])]
