"""Turn a task spec + config into generation requests (the contract in docs/interfaces.md)."""

from __future__ import annotations

import hashlib
import random

from maple.tasks import chat_layout
from maple.tasks.budget import Budget, fit_prompt
from maple.tasks.loading import load_rows, resolve_source
from maple.tasks.spec import INSTRUCTION, TaskDataError, TaskSpec, effective_settings
from maple.template import template_header


def request_stop(spec: TaskSpec, protocol: str, prompt_cfg: dict | None) -> list[str]:
    """The stop strings of a request: the protocol's own when it declares them, else the task's plus
    the template header."""
    declared = spec.protocol(protocol).stop
    if declared is not None:
        return list(declared)
    stop = list(spec.stop)
    header = template_header(prompt_cfg) if prompt_cfg else ""
    return stop + [header] if header else stop


def _rng(seed, *parts) -> random.Random:
    # a str seed is hashed with SHA-512: stable across processes and PYTHONHASHSEED
    return random.Random("|".join(map(str, (seed, *parts))))


def _valid_indices(spec: TaskSpec, dataset) -> list[int]:
    if spec.label_field and spec.label_field in dataset.column_names:
        labels = dataset[spec.label_field]
        return [i for i, v in enumerate(labels) if v is not None and int(v) >= 0]
    return list(range(len(dataset)))


def _query(spec: TaskSpec, protocol: str | None):
    own = spec.protocol(protocol).query if protocol else None
    return own or spec.query


def _shot_text(spec: TaskSpec, shot: dict, protocol: str | None = None) -> str:
    return _query(spec, protocol)(shot) + spec.target_delimiter + spec.target(shot)


def render_prompt(spec: TaskSpec, row: dict, shots: list[dict], prompt_cfg: dict | None,
                  protocol: str | None = None) -> str:
    """The full prompt: MEGAVERSE's turns (instruction, shots, query) laid out by maple.tasks.chat_layout."""
    query = _query(spec, protocol)
    turns = chat_layout.messages(spec.instruction, [(query(s), spec.target(s)) for s in shots], query(row))
    return chat_layout.render(turns, prompt_cfg, spec.target_delimiter, spec.fewshot_delimiter)


def megaverse_shot_indices(n_rows: int, n_shots: int, seed: int, draw: int) -> list[int]:
    """mega/data/data_utils.py choose_few_shot_examples ("random"), after np.random.seed(seed) in the
    entry point: the draw-th `np.random.choice(len(train_dataset), size=k, replace=False)`, in order.
    np.random.seed + np.random.choice is the legacy global RandomState, so RandomState(seed) repeats it."""
    import numpy as np

    if draw < 1:
        raise ValueError(f"shot draw {draw}: MEGAVERSE's draws are numbered from 1")
    rng = np.random.RandomState(seed)
    for _ in range(draw):
        picked = rng.choice(n_rows, size=n_shots, replace=False).astype(int).tolist()
    return picked


def _shot_rows(spec, proto, lang, protocol, task_cfg, seed, ref, shot_split, n_shots) -> list[dict]:
    if n_shots <= 0:
        return []
    if not shot_split:
        raise TaskDataError(f"task {spec.name}: protocol {protocol} has no few-shot split, yet {n_shots} shots asked")
    shot_ref = proto.shot_data or ref
    source = resolve_source(spec, shot_ref, task_cfg)
    data_files = task_cfg.get("data_files") if shot_ref is spec.data else None
    revision = task_cfg.get("revision") if shot_ref is spec.data else None
    config = ((proto.config if shot_ref is spec.data else None) or shot_ref.config).format(lang=lang)
    dataset = load_rows(spec.name, lang, source, config, shot_split, data_files, revision)
    pool = _valid_indices(spec, dataset)
    if len(pool) < n_shots:
        raise TaskDataError(
            f"task {spec.name}, language {lang}: {shot_split} of {source} has {len(pool)} examples, "
            f"{n_shots} shots asked"
        )
    if proto.shot_draw is not None:
        # MEGAVERSE's own draw over the whole split (its pool is len(train_dataset))
        picked = megaverse_shot_indices(len(dataset), n_shots, *proto.shot_draw)
        return dataset.select(picked).to_list()
    # shots are drawn once per task and split (as MEGAVERSE drew them once per run), not per language
    # or protocol: parallel languages see the same shots
    picked = _rng(seed, spec.name, "shots", shot_split).sample(pool, n_shots)
    return dataset.select(picked).to_list()


def eval_location(spec: TaskSpec, proto, lang: str, task_cfg: dict) -> tuple:
    """Where one language's evaluated rows come from: (source, config, data_files, revision)."""
    ref = spec.data_for(lang)
    source = resolve_source(spec, ref, task_cfg)
    config = ((proto.config if ref is spec.data else None) or ref.config).format(lang=lang)
    data_files = task_cfg.get("data_files") if ref is spec.data else None
    revision = task_cfg.get("revision") if ref is spec.data else None
    return source, config, data_files, revision


def build_requests(
    task: str,
    lang: str,
    protocol: str,
    task_cfg: dict | None,
    seed: int,
    max_examples: int | None = None,
    prompt_cfg: dict | None = None,
    budget: Budget | None = None,
) -> list[dict]:
    """Every request of one task x language x protocol, deterministic under `seed`.

    task_cfg: `source` (hub id or local hub-layout directory) and optional overrides: `shots`,
    `split` (evaluation split), `shot_split`, `max_new_tokens`, `sources` (local_name -> source
    for a second dataset, e.g. {"squad": path}), `data_files` (flat files: a pattern with
    {lang}/{config}/{split} relative to `source`, or a dict split -> pattern).
    prompt_cfg: the config's `prompt` block; None = the bare task prompt (no template).
    budget: the model's tokenizer and context length; None = no budgeting (prompts as built).
    """
    from maple.tasks import get_task

    spec = get_task(task)
    proto = spec.protocol(protocol)
    task_cfg = task_cfg or {}
    ref = spec.data_for(lang)
    eff = effective_settings(spec, lang, protocol, task_cfg)
    eval_split, shot_split, n_shots = eff.eval_split, eff.shot_split, eff.shots

    source, config, data_files, revision = eval_location(spec, proto, lang, task_cfg)
    dataset = load_rows(task, lang, source, config, eval_split, data_files, revision)
    indices = _valid_indices(spec, dataset)
    if eff.eval_limit:
        indices = indices[: eff.eval_limit]
    if max_examples and len(indices) > max_examples:
        # the subsample ignores the language, so parallel datasets keep the same items everywhere
        indices = sorted(_rng(seed, task, "eval", eval_split).sample(indices, max_examples))
    shots = _shot_rows(spec, proto, lang, protocol, task_cfg, seed, ref, shot_split, n_shots)
    rows = [
        (str(row[spec.id_field]) if spec.id_field else f"{eval_split}-{index}", index, row)
        for index, row in zip(indices, dataset.select(indices).to_list())
    ]
    return requests_from_rows(spec, lang, protocol, rows, lambda _i: shots, eff.max_new_tokens, prompt_cfg, budget)


def requests_from_rows(
    spec: TaskSpec,
    lang: str,
    protocol: str,
    rows: list[tuple[str, int, dict]],
    shots_for,
    max_new_tokens: int,
    prompt_cfg: dict | None = None,
    budget: Budget | None = None,
) -> list[dict]:
    """Requests from (id, index, row) triples; shots_for(index) -> that row's shots, in order.

    With a budget every prompt plus max_new_tokens fits the model's context: shots are dropped one
    at a time, then the task's truncatable field is cut (maple.tasks.budget); what was done is
    recorded as shots / shots_used / tokens_truncated / prompt_tokens / failed."""
    stop = request_stop(spec, protocol, prompt_cfg)

    def render(row, shots):
        return render_prompt(spec, row, shots, prompt_cfg, protocol)

    shot_tokens = {}
    requests, seen = [], set()
    for rid, index, row in rows:
        shots = shots_for(index)
        if budget is not None:
            for s in shots:
                if id(s) not in shot_tokens:
                    shot_tokens[id(s)] = budget.count_bare(_shot_text(spec, s, protocol) + spec.fewshot_delimiter)
        fitted = fit_prompt(render, row, shots, max_new_tokens, budget, spec.truncatable,
                            [shot_tokens[id(s)] for s in shots] if budget is not None else None)
        prompt = fitted.prompt
        rid = rid if rid not in seen else f"{rid}-{index}"
        seen.add(rid)
        request = {
            "task": spec.name,
            "lang": lang,
            "protocol": protocol,
            "id": rid,
            "prompt": prompt,
            "prompt_sha1": hashlib.sha1(prompt.encode("utf-8")).hexdigest(),
            "gold": spec.gold(row),
            "choices": spec.choices(row) if spec.choices else None,
            "max_new_tokens": max_new_tokens,
            "stop": stop,
            "shots": len(shots),
            "shots_used": fitted.shots_used,
            "tokens_truncated": fitted.tokens_truncated,
            "prompt_tokens": fitted.prompt_tokens,
            "failed": fitted.failed,
        }
        if spec.kind == INSTRUCTION:
            request["instruction"] = row["instruction"]  # the judge shows the bare instruction
        requests.append(request)
    return requests
