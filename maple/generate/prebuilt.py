"""A task's requests built once per model on a CPU job, read by every generation job of that model.

Building a task's requests (reading its rows, drawing shots, fitting each prompt to the context with
the model's tokenizer) is CPU work that a generation job did while holding its GPU, once per cell
although every cell of a model sends the same requests: on the paper's grid ~15 ms per XL-Sum or MLQA
request, half an hour of idle GPU per cell (benchmarks/NOTES.md). With `device: cuda` the workflow
builds them here (rule build_requests) and generation jobs read them; on CPU there is no GPU to idle and
each job builds its own. A job whose served tokenizer is not the one the requests were fitted with
(a merged checkpoint saved with other tokenizer files) builds its own, and says so."""

from __future__ import annotations

import hashlib
import json

from maple.io import read_jsonl, write_jsonl

HEADER = "maple_prebuilt_requests"


def tokenizer_fingerprint(tokenizer) -> str:
    """What fitting a prompt reads of a tokenizer: its vocabulary and pre/post-processing (the fast
    tokenizer's own serialisation), its special tokens and chat template, its class."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    parts = [type(tokenizer).__name__, body, json.dumps(tokenizer.all_special_tokens),
             str(getattr(tokenizer, "chat_template", None))]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def write(path: str, requests: list[dict], tokenizer, meta: dict) -> int:
    """The requests as JSONL after one header line naming the tokenizer they were fitted with."""
    header = {HEADER: {**meta, "tokenizer_sha256": tokenizer_fingerprint(tokenizer), "requests": len(requests)}}
    return write_jsonl(path, [header, *requests]) - 1


def read(path: str) -> tuple[dict, list[dict]]:
    """(header, requests) of a file `write` made; JSON gives lists where the builder had tuples."""
    rows = read_jsonl(path)
    if not rows or HEADER not in rows[0]:
        raise ValueError(f"{path}: not a prebuilt requests file (no {HEADER} header line)")
    header, requests = rows[0][HEADER], rows[1:]
    if header.get("requests") != len(requests):
        raise ValueError(f"{path}: {len(requests)} requests, its header says {header.get('requests')}")
    return header, requests


def normalised(requests: list[dict]) -> list[dict]:
    """Requests as a JSON round trip leaves them: what `read` returns for what `write` was given."""
    return [json.loads(json.dumps(r, ensure_ascii=False, sort_keys=True)) for r in requests]
