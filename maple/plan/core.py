"""Requests of one task x language x protocol from rows in files, fitted to a model's context,
and the statistics the plan prints (maple.plan)."""

from __future__ import annotations

import statistics

from maple.tasks import get_task
from maple.tasks.budget import Budget
from maple.tasks.build import _rng, requests_from_rows
from maple.tasks.spec import TaskDataError, effective_settings


def read_rows(path: str, what: str) -> list[dict]:
    """JSONL rows; a missing file or a bad line is a one-line TaskDataError naming `what`."""
    from maple.io import read_user_jsonl

    try:
        return read_user_jsonl(path, TaskDataError)[0]
    except TaskDataError as err:
        raise TaskDataError(f"{what}: {err}") from None


def check_rows(task: str, rows: list[dict], where: str) -> list[dict]:
    """The rows, once each has what the task's prompts and gold read: else a one-line TaskDataError
    naming the file, the line and the missing field (before any request is built)."""
    spec = get_task(task)
    readers = [spec.query, spec.gold] + ([spec.target] if spec.target else []) + (
        [spec.choices] if spec.choices else []) + [p.query for p in spec.protocols.values() if p.query]
    for line, row in enumerate(rows, 1):
        if spec.label_field and row.get(spec.label_field) is not None and int(row[spec.label_field]) < 0:
            continue
        for read in readers:
            try:
                read(row)
            except KeyError as err:
                raise TaskDataError(f"{where} line {line}: no field {err.args[0]!r}; rows must be in the hub "
                                    f"schema of {spec.data.hub_id} (fields there: {', '.join(sorted(row))} "
                                    f"plus the missing one)") from None
            except (TypeError, ValueError, IndexError) as err:
                raise TaskDataError(f"{where} line {line}: does not fit the hub schema of {spec.data.hub_id}: "
                                    f"{err}") from None
    return rows


def _valid(spec, rows: list[dict]) -> list[int]:
    if spec.label_field and rows and spec.label_field in rows[0]:
        return [i for i, r in enumerate(rows) if r.get(spec.label_field) is not None and int(r[spec.label_field]) >= 0]
    return list(range(len(rows)))


def plan_requests(task: str, lang: str, protocol: str, eval_rows: list[dict], shot_rows: list[dict] | None,
                  task_cfg: dict, prompt_cfg: dict | None, seed: int, budget: Budget | None,
                  max_examples: int | None = None) -> tuple[list[dict], dict]:
    """The requests the workflow would build for these rows, and how their shots were found.

    Shots come from `shot_rows`; without them, from the evaluated rows minus the row itself (what
    the protocol does where it takes shots from the evaluated split, a stand-in otherwise)."""
    spec = get_task(task)
    eff = effective_settings(spec, lang, protocol, task_cfg)
    n_shots, max_new_tokens, eval_split, shot_split = eff.shots, eff.max_new_tokens, eff.eval_split, eff.shot_split
    indices = _valid(spec, eval_rows)
    if eff.eval_limit:
        indices = indices[: eff.eval_limit]
    if max_examples and len(indices) > max_examples:
        indices = sorted(_rng(seed, task, "eval", eval_split).sample(indices, max_examples))
    if n_shots and not shot_split:
        raise TaskDataError(f"task {task}: protocol {protocol} has no few-shot split, yet {n_shots} shots asked")
    same_file = shot_rows is None
    pool_rows = eval_rows if same_file else shot_rows
    pool = _valid(spec, pool_rows) if n_shots else []
    take = min(n_shots + (1 if same_file else 0), len(pool))
    picked = _rng(seed, task, "shots", shot_split).sample(pool, take) if take else []

    def shots_for(index):
        chosen = [j for j in picked if not (same_file and j == index)]
        return [pool_rows[j] for j in chosen[:n_shots]]

    if not n_shots:
        source = "none (zero-shot)"
    elif same_file:
        source = "evaluated rows minus the row" + ("" if shot_split == eval_split else f" (stand-in for {shot_split})")
    else:
        source = "shot rows"
    triples = [(str(eval_rows[i].get(spec.id_field, i)) if spec.id_field else f"{eval_split}-{i}", i, eval_rows[i])
               for i in indices]
    try:
        requests = requests_from_rows(spec, lang, protocol, triples, shots_for, max_new_tokens, prompt_cfg, budget)
    except KeyError as err:
        raise TaskDataError(
            f"task {task}: a row lacks field {err.args[0]!r}; rows must be in the hub schema of {spec.data.hub_id}"
        ) from None
    except (TypeError, ValueError, IndexError) as err:
        raise TaskDataError(f"task {task}: a row does not fit the hub schema of {spec.data.hub_id}: {err}") from None
    return requests, {"shots": n_shots, "shot_source": source, "max_new_tokens": max_new_tokens}


def summarise(requests: list[dict], max_model_len: int, max_new_tokens: int) -> dict:
    tokens = [r["prompt_tokens"] for r in requests if r["prompt_tokens"] is not None]
    used = [r["shots_used"] for r in requests]
    return {
        "requests": len(requests),
        "max_model_len": max_model_len,
        "max_new_tokens": max_new_tokens,
        "prompt_tokens_median": statistics.median(tokens) if tokens else None,
        "prompt_tokens_max": max(tokens) if tokens else None,
        "prompt_tokens_total": sum(tokens),
        "shots_min": min(used) if used else None,
        "shots_max": max(used) if used else None,
        "fewer_shots": sum(1 for r in requests if r["shots_used"] < r["shots"]),
        "truncated": sum(1 for r in requests if r["tokens_truncated"] > 0),
        "tokens_truncated_max": max((r["tokens_truncated"] for r in requests), default=0),
        "failed": sum(1 for r in requests if r["failed"]),
        "over_limit": sum(1 for r in requests if r["prompt_tokens"] + r["max_new_tokens"] > max_model_len),
    }
