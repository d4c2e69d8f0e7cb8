"""Build every evaluation prompt of a cell, generate with one engine load, write raw outputs."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from maple import grid
from maple.generate.backends import Adapter, generation_key, make_backend
from maple.generate.order import in_cache_order
from maple.io import atomic_dir, provenance, versions, write_jsonl, write_record
from maple.tasks.budget import budget_counts


def context_length(settings: dict, model_cfg: dict) -> int:
    """The model's context: models.<m>.max_model_len, else evaluation.max_model_len (schema default)."""
    return int(model_cfg.get("max_model_len") or settings["evaluation"]["max_model_len"])


def request_budget(settings: dict, model_cfg: dict, model_path: str):
    """The model's own tokenizer and context length, which every prompt is fitted to."""
    from maple.tasks.budget import Budget
    from maple.models import load_tokenizer

    revision = model_cfg.get("revision") if model_path == model_cfg["path"] else None
    tokenizer = load_tokenizer(model_path, revision, settings["trust_remote_code"])
    return Budget(tokenizer, context_length(settings, model_cfg))


def cell_requests(settings: dict, budget=None) -> list[dict]:
    """All requests of one cell: every task x language x protocol in the config, fitted to `budget`."""
    from maple import tasks

    evaluation = settings["evaluation"]
    requests = []
    for task, task_cfg in evaluation["tasks"].items():
        for lang in task_cfg["languages"]:
            for protocol in evaluation["protocols"]:
                requests += tasks.build_requests(
                    task,
                    lang,
                    protocol,
                    task_cfg,
                    settings["seed"],
                    max_examples=evaluation.get("max_examples"),
                    prompt_cfg=settings["prompt"],
                    budget=budget,
                )
    return requests


def job_requests(settings: dict, model_cfg: dict, model_path: str, requests_path: str | None = None,
                 ids_path: str | None = None, budget=None) -> tuple[list[dict], str, object]:
    """This job's requests, where they came from, and their prompts' token ids (a prebuilt.PromptIds, or
    None: the backend tokenises). The model's prebuilt file (rule build_requests) and its ids file are
    used when they were built with these settings and the served model's tokenizer, else the job builds
    its requests here."""
    from maple.generate import prebuilt

    budget = budget or request_budget(settings, model_cfg, model_path)  # a task group's tasks share one
    if not requests_path:
        return cell_requests(settings, budget), "built in this job", None
    header, requests = prebuilt.read(requests_path)
    fingerprint = prebuilt.tokenizer_fingerprint(budget.tokenizer)
    if header.get("settings") != prebuilt.normalised([settings])[0]:
        why = "its settings are not this job's"
    elif header.get("tokenizer_sha256") != fingerprint:
        why = f"the served tokenizer ({model_path}) is not the one it was fitted with"
    else:
        ids = prebuilt.read_ids(ids_path, requests, fingerprint) if ids_path else None
        return requests, f"prebuilt: {requests_path}" + (f", token ids: {ids_path}" if ids else ""), ids
    print(f"maple: {requests_path}: {why}; building this job's requests here")
    return cell_requests(settings, budget), f"built in this job ({requests_path}: {why})", None


def build_model_requests(settings: dict, model_cfg: dict, out: str, ids_out: str | None = None) -> int:
    """Rule build_requests: one task's requests for a model, fitted with its base's tokenizer, and their
    prompts' token ids (`ids_out`)."""
    from maple.generate import prebuilt

    budget = request_budget(settings, model_cfg, model_cfg["path"])
    requests = cell_requests(settings, budget)
    if ids_out:
        prebuilt.write_ids(ids_out, requests, budget.tokenizer)
    return prebuilt.write(out, requests, budget.tokenizer,
                          {"settings": prebuilt.normalised([settings])[0], "model": model_cfg, **provenance()})


def _once_per_key(run, requests: list[dict], key) -> list:
    """run() on each distinct key's first request only; every request gets its key's result.
    Protocols often share prompts (XNLI, Belebele), and greedy results depend on the key alone."""
    keys = [key(r) for r in requests]
    first = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    results = dict(zip(first, run([requests[i] for i in first.values()])))
    return [results[k] for k in keys]


def unsettled_by_stop(request: dict, text: str) -> bool:
    """An output its protocol's stop cut before the scored part was settled (ProtocolSpec.stop_settles):
    it must be generated again without stop strings."""
    from maple.tasks import TASKS

    spec = TASKS.get(request.get("task"))
    proto = spec.protocols.get(request.get("protocol")) if spec else None
    return bool(request.get("stop")) and proto is not None and proto.stop_settles is not None \
        and not proto.stop_settles(text)


def generate_unique(backend, requests: list[dict], adapter=None) -> list[str]:
    """generate_outputs' texts."""
    return generate_outputs(backend, requests, adapter)[0]


def generate_outputs(backend, requests: list[dict], adapter=None) -> tuple[list[str], list[int | None]]:
    """Generate each distinct (prompt, limits) once; a request that could not fit (failed) gets "".
    Greedy outputs cut at a stop before their scored part was settled are generated again without
    stops, so they equal what decoding to the full budget gives (maple.tasks.specs, MEGAVERSE_FIRST_LINE_STOP).
    On a backend whose stops are vLLM's (`derives_stops`), a request with one stop string whose prompt
    and limits equal a no-stop request's is not sent: its output is that output cut at the stop
    (maple.generate.order.stop_derivations, the rule maple.plan counts), unless that output may hide the
    stop in a cut byte run (order.stop_may_be_hidden): then it is generated. Returns the texts and, per
    request, the index of the request its output was derived from (None: generated)."""
    from maple.generate.order import derive_output, derivable_stop, stop_derivations, stop_may_be_hidden

    def run(batch):
        return _once_per_key(lambda b: in_cache_order(lambda bb: backend.generate(bb, adapter), b), batch,
                             lambda r: (r["prompt"], *generation_key(r)))

    derived = stop_derivations(requests) if getattr(backend, "derives_stops", False) else {}
    live = [i for i, r in enumerate(requests) if not r.get("failed")]
    direct = [i for i in live if i not in derived]
    texts = dict(zip(direct, run([requests[i] for i in direct])))
    # a source whose one-call decode may hide the stop (a cut byte-fallback run) cannot stand in: generate
    unsure = [i for i, j in derived.items() if stop_may_be_hidden(texts[j], derivable_stop(requests[i]))]
    if unsure:
        print(f"maple: {len(unsure)} output(s) whose source may hide the stop in a cut byte run: generated")
        derived = {i: j for i, j in derived.items() if i not in unsure}
        texts.update(zip(unsure, run([requests[i] for i in unsure])))
    for i, j in derived.items():
        texts[i] = derive_output(texts[j], derivable_stop(requests[i]))
    redo = [i for i in live if unsettled_by_stop(requests[i], texts[i])]
    if redo:
        print(f"maple: {len(redo)} output(s) cut at a stop before their first line: generated again without stops")
        for i in redo:
            if i in derived:  # generating it again without stops gives its source's output
                texts[i] = texts[derived[i]]
        again = [i for i in redo if i not in derived]
        for i, text in zip(again, run([{**requests[i], "stop": []} for i in again])):
            texts[i] = text
    out = [texts.get(i, "") for i in range(len(requests))]
    return out, [derived.get(i) for i in range(len(requests))]


def choice_extras(backend, requests: list[dict], settings: dict, adapter=None) -> list[dict]:
    """The log-likelihood option for multiple-choice tasks (lm-eval style), kept beside the output."""
    extras = [{} for _ in requests]
    # job_params passes `loglikelihood` to multiple-choice tasks' jobs only: absent means off
    if settings["evaluation"].get("loglikelihood"):
        idx = [i for i, r in enumerate(requests) if r.get("choices") and not r.get("failed")]
        # one fixed send order whatever the caller's: the engine's batches, hence every float, are the same
        scores = _once_per_key(lambda batch: in_cache_order(lambda b: backend.choice_logprobs(b, adapter), batch),
                               [requests[i] for i in idx], lambda r: (r["prompt"], tuple(r["choices"])))
        for i, lp in zip(idx, scores):
            extras[i]["choice_logprobs"] = lp
    return extras


def _backend(settings: dict, model_cfg: dict, model_path: str, lora_rank=None, max_loras=1):
    engine = engine_settings(settings, model_cfg)
    return make_backend(
        engine.pop("backend"),
        model_path,
        **engine,
        lora_rank=lora_rank,
        max_loras=max_loras,
        revision=model_cfg.get("revision") if model_path == model_cfg["path"] else None,
    )


def derived_from(requests: list[dict], sources: list[int | None]) -> list[dict]:
    """Per request, what its raw output row records about a derived output: the protocol and id of the
    no-stop request whose output was cut at this request's stop (generate_outputs); {} when generated."""
    return [{} if j is None else {"derived_from": {"protocol": requests[j]["protocol"], "id": requests[j]["id"],
                                                   "rule": "the source's output cut at this request's stop"}}
            for j in sources]


def output_extras(backend, requests: list[dict], settings: dict, sources: list[int | None], adapter=None) -> list[dict]:
    """What each raw output row carries beside the output: log-likelihoods and the derivation record."""
    return [{**e, **d} for e, d in zip(choice_extras(backend, requests, settings, adapter), derived_from(requests, sources))]


def _write_by_task(requests, outputs, extras, generator: dict, path_for_task) -> dict:
    generator = {**generator, **provenance()}  # every raw output names the workflow commit that made it
    by_task = defaultdict(list)
    for request, output, extra in zip(requests, outputs, extras):
        by_task[request["task"]].append({**request, **extra, "output": output, "generator": generator})
    counts = {}
    for task, rows in by_task.items():
        counts[task] = write_jsonl(path_for_task(task), rows)
    return counts


def served_as(cell, mode: str) -> str:
    from maple.generate.served import served_as as _served_as

    return _served_as(cell, mode)


def generate_cell(cell_id: str, model_cfg: dict, model_path: str, out_files: dict, settings: dict,
                  requests_path: str | None = None, ids_path: str | None = None) -> dict:
    """merged mode and base models: serve one checkpoint, write one JSONL per task."""
    started = time.time()
    requests, requests_from, ids = job_requests(settings, model_cfg, model_path, requests_path, ids_path)
    backend = _backend(settings, model_cfg, model_path)
    return _generate_served_cell(backend, cell_id, model_path, requests, requests_from, ids, settings,
                                 lambda t: out_files[t], started)


def _generate_served_cell(backend, cell_id, model_path, requests, requests_from, ids, settings, path_for_task,
                          started) -> dict:
    """One cell's requests (a task's, as its job builds them) on its own served checkpoint."""
    backend.known_prompt_ids = ids
    t0 = time.time()
    outputs, sources = generate_outputs(backend, requests)
    cell = grid.parse_cell(cell_id)
    generator = {
        "backend": backend.name,
        "mode": "base" if cell.is_base else "merged",
        "model_path": model_path,
        "variant": "base model" if cell.is_base else "adapter merged into the (de-quantised) base",
        "served_as": served_as(cell, "merged"),
    }
    extras = output_extras(backend, requests, settings, sources)
    counts = _write_by_task(requests, outputs, extras, generator, path_for_task)
    return _summary(cell_id, generator, counts, requests, outputs, time.time() - t0, started, settings, sources,
                    requests_from)


def engine_settings(settings: dict, model_cfg: dict) -> dict:
    """What a job's engine is made with (`_backend`): one engine serves the tasks whose values agree."""
    return {"backend": settings["evaluation"]["backend"], "device": settings["device"], "seed": settings["seed"],
            "max_model_len": context_length(settings, model_cfg), "trust_remote_code": settings["trust_remote_code"]}


def generate_cell_tasks(cell_id: str, model_cfg: dict, model_path: str, out_dir: str, settings_by_task: dict,
                        prebuilt_by_task: dict | None = None) -> dict:
    """evaluation.task_groups: several tasks of one cell on one engine load. Each task's requests are
    built (or read) and sent exactly as its own job (generate_cell) would, one task after another, each
    from an empty prefix cache, so each task's outputs are its own job's; they go to
    `out_dir`/<cell member>/<task>.jsonl."""
    from maple import paths

    started = time.time()
    engines = {json.dumps(engine_settings(s, model_cfg), sort_keys=True) for s in settings_by_task.values()}
    if len(engines) != 1:
        raise ValueError(f"{cell_id}: the grouped tasks {', '.join(settings_by_task)} need different engines")
    prebuilt_by_task = prebuilt_by_task or {}
    # one tokenizer load for the group: the tasks agree on the engine, hence on the context
    budget = request_budget(next(iter(settings_by_task.values())), model_cfg, model_path)
    jobs = {task: job_requests(s, model_cfg, model_path, *prebuilt_by_task.get(task, (None, None)), budget=budget)
            for task, s in settings_by_task.items()}
    backend = _backend(next(iter(settings_by_task.values())), model_cfg, model_path)
    cell = grid.parse_cell(cell_id)
    summaries = {}
    with atomic_dir(out_dir) as tmp:
        for i, (task, (requests, requests_from, ids)) in enumerate(jobs.items()):
            if i:  # each task from an empty prefix cache, as its own job's fresh engine
                backend.reset_prefix_cache()
            summaries[task] = _generate_served_cell(
                backend, cell_id, model_path, requests, requests_from, ids, settings_by_task[task],
                lambda t: paths.group_member_file(str(tmp), cell, t), time.time())
        write_record(Path(tmp) / "generation.json", {"cell": cell_id, "tasks": summaries,
                                                     "wall_seconds": time.time() - started})
    return summaries


def generate_group(cell_ids: list[str], adapter_dirs: list[str], model_cfg: dict, out_dir: str, settings: dict,
                   requests_path: str | None = None, ids_path: str | None = None) -> dict:
    """multi_lora mode: serve the base once, one LoRA request per adapter of this rank group.
    `adapter_dirs` are the trained cells' adapters, in order; a base cell among `cell_ids` (its
    model's lowest-rank group serves it, maple.grid.group_rank) is served by requests without an
    adapter on the same LoRA-enabled engine: no engine load of its own."""
    from maple import paths

    started = time.time()
    cells = [grid.parse_cell(c) for c in cell_ids]
    trained = [c for c in cells if not c.is_base]
    if len(trained) != len(adapter_dirs):
        raise ValueError(f"{len(adapter_dirs)} adapters for {len(trained)} trained cells: {cell_ids}")
    adapters = {c: Adapter(name=c.id, int_id=i + 1, path=d, rank=c.rank)
                for i, (c, d) in enumerate(zip(trained, adapter_dirs))}
    requests, requests_from, ids = job_requests(settings, model_cfg, model_cfg["path"], requests_path, ids_path)
    backend = _backend(settings, model_cfg, model_cfg["path"], lora_rank=max(c.rank for c in trained), max_loras=1)
    backend.known_prompt_ids = ids
    summaries = {}
    with atomic_dir(out_dir) as tmp:
        for cell in cells:
            t0 = time.time()
            adapter = adapters.get(cell)  # None for the base cell: no LoRA request
            outputs, sources = generate_outputs(backend, requests, adapter)
            generator = {
                "backend": backend.name,
                "mode": "base" if cell.is_base else "multi_lora",
                "model_path": model_cfg["path"],
                **({} if cell.is_base else {"adapter": adapter.path}),
                # vLLM cannot serve bitsandbytes weights on CPU: 4/8-bit adapters run on the unquantised base
                "variant": "base model (no adapter) on the group's LoRA-enabled engine" if cell.is_base
                else "unmerged adapter on the unquantised base",
                "served_as": served_as(cell, "multi_lora"),
            }
            extras = output_extras(backend, requests, settings, sources, adapter)
            counts = _write_by_task(
                requests, outputs, extras, generator, lambda t, c=cell: paths.group_member_file(str(tmp), c, t)
            )
            summaries[cell.id] = _summary(
                cell.id, generator, counts, requests, outputs, time.time() - t0, started, settings, sources,
                requests_from,
            )
        write_record(Path(tmp) / "generation.json", {"cells": summaries, "wall_seconds": time.time() - started})
    return summaries


def _summary(cell_id, generator, counts, requests, outputs, gen_seconds, started, settings, sources=(),
             requests_from: str = "built in this job") -> dict:
    new_chars = sum(len(o) for o in outputs)
    return {
        "cell": cell_id,
        "generator": generator,
        "requests_from": requests_from,  # job_requests: the model's prebuilt file, or built in the job
        "requests": len(requests),
        "derived_outputs": sum(j is not None for j in sources),  # cut from a no-stop output, not sent
        "per_task": counts,
        "empty_outputs": sum(1 for o in outputs if not o.strip()),
        "budget": budget_counts(requests),
        "output_chars": new_chars,
        "generate_seconds": gen_seconds,
        "wall_seconds": time.time() - started,
        "versions": versions(),
        **provenance(),
        "evaluation": settings["evaluation"],
    }
