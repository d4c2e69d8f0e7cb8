"""A task's requests built once per model on a CPU job, read by every generation job of that model.

Building a task's requests (reading its rows, drawing shots, fitting each prompt to the context with
the model's tokenizer) is CPU work that a generation job did while holding its GPU, once per cell
although every cell of a model sends the same requests: on the paper's grid ~15 ms per XL-Sum or MLQA
request, half an hour of idle GPU per cell (benchmarks/NOTES.md). With `device: cuda` the workflow
builds them here (rule build_requests) and generation jobs read them; on CPU there is no GPU to idle and
each job builds its own. A job whose served tokenizer is not the one the requests were fitted with
(a merged checkpoint saved with other tokenizer files) builds its own, and says so.

The same job also tokenises every distinct prompt once more for vLLM, which takes token ids: the ids
file holds them (`write_ids`), so a generation job reads them instead of tokenising ~7 M tokens a cell
with its GPU idle (anchors.yaml job_tokenize_tokens_per_s); it is used only with its requests file and
the same tokenizer hash, and only for the prompts whose hash it records (`read_ids`)."""

from __future__ import annotations

import hashlib
import json

from maple.io import atomic_file, read_jsonl, write_jsonl

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


def distinct_prompts(requests: list[dict]) -> list[str]:
    """Each distinct prompt once, in the order the requests first have it."""
    return list(dict.fromkeys(r["prompt"] for r in requests))


def prompts_sha256(prompts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in prompts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def write_ids(path: str, requests: list[dict], tokenizer, chunk: int = 2048) -> int:
    """The token ids of `requests`' distinct prompts as the generation backend sends them
    (backends.prompt_ids: batched calls, `chunk` prompts each, so that a task's ~180 M MLQA tokens are
    never all held as Python lists), flat with offsets, beside the hashes of the prompts and the
    tokenizer; an .npz of plain arrays (no pickled objects). Returns the number of ids."""
    import numpy as np

    from maple.generate.backends import prompt_ids

    prompts = distinct_prompts(requests)
    parts, lengths = [], []
    for start in range(0, len(prompts), chunk):
        ids = prompt_ids(tokenizer, prompts[start:start + chunk])
        lengths += [len(x) for x in ids]
        parts.append(np.fromiter((t for x in ids for t in x), dtype=np.int64, count=sum(map(len, ids))))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = flat.astype(np.uint16 if flat.size == 0 or flat.max() < 2**16 else np.uint32)
    with atomic_file(path, "wb") as fh:
        np.savez(fh, ids=flat, offsets=offsets, prompts_sha256=np.array(prompts_sha256(prompts)),
                 tokenizer_sha256=np.array(tokenizer_fingerprint(tokenizer)))
    return int(offsets[-1])


class PromptIds:
    """Prompt text -> its token ids (a list of ints, as vLLM's TokensPrompt takes them), from `read_ids`."""

    def __init__(self, prompts: list[str], flat, offsets):
        self._index = {p: i for i, p in enumerate(prompts)}
        self._flat, self._offsets = flat, offsets

    def __len__(self) -> int:
        return len(self._index)

    def get(self, prompt: str) -> list[int] | None:
        i = self._index.get(prompt)
        return None if i is None else self._flat[self._offsets[i]:self._offsets[i + 1]].tolist()


def read_ids(path: str, requests: list[dict], tokenizer_sha256: str) -> PromptIds:
    """The ids `write_ids` stored for `requests` (read from the requests file written beside them),
    checked against the hashes of their distinct prompts and of the tokenizer the job serves."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        flat, offsets = data["ids"], data["offsets"]
        stored_prompts, stored_tokenizer = str(data["prompts_sha256"]), str(data["tokenizer_sha256"])
    prompts = distinct_prompts(requests)
    if stored_tokenizer != tokenizer_sha256:
        raise ValueError(f"{path}: token ids from another tokenizer than the served one")
    if stored_prompts != prompts_sha256(prompts) or len(offsets) != len(prompts) + 1 or offsets[-1] != len(flat):
        raise ValueError(f"{path}: token ids of other prompts than its requests file's")
    return PromptIds(prompts, flat, offsets)
