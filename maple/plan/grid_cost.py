"""The whole config: prompt statistics per task x language x protocol from files of real rows,
training tokens per cell, and GPU-hours per stage from the measured throughputs in anchors.yaml."""

from __future__ import annotations

import glob
import math
import os
import statistics
from pathlib import Path

import yaml

from maple.generate.backends import derives_stops
from maple.plan import core, decode_rate, model_shape, prefill_flops, prefix_cache, published_rates
from maple.tasks.spec import TaskDataError

REPO = Path(__file__).resolve().parents[2]

ANCHORS = Path(__file__).with_name("anchors.yaml")


def anchors() -> dict:
    return yaml.safe_load(ANCHORS.read_text(encoding="utf-8"))


def find_rows(data_dir: str, task: str, names: list[str]) -> str | None:
    for name in names:
        path = os.path.join(data_dir, task, f"{name}.jsonl")
        if os.path.isfile(path):
            return path
    return None


def file_languages(data_dir: str, task: str) -> list[str]:
    """Languages that have rows under data_dir/task ({split}.{lang}.jsonl or {split}.{lang}.{lang}.jsonl)."""
    langs = []
    for path in sorted(glob.glob(os.path.join(data_dir, task, "*.jsonl"))):
        parts = os.path.basename(path)[: -len(".jsonl")].split(".")
        if len(parts) == 3 and parts[1] == parts[2]:
            parts = parts[:2]
        if len(parts) == 2 and parts[1] not in langs and parts[1] != "eval":
            langs.append(parts[1])
    return langs


def _check_file_languages(data_dir: str, task: str, langs: list[str], protocols) -> None:
    """Rows files name their language with the workflow's codes (XL-Sum `thai`, not `th`)."""
    from maple.metrics.errors import ScoringInputError
    from maple.metrics.languages import check

    for lang in langs:
        for protocol in protocols:
            try:
                check(task, lang, protocol)
            except ScoringInputError as err:
                raise TaskDataError(f"--data-dir: {os.path.join(data_dir, task)}/*.{lang}.jsonl: {err}") from None


def task_rows(cfg: dict, model: str, budget, data_dir: str, data_languages: bool = True,
              block_size: int = prefix_cache.BLOCK_SIZE["cuda"]) -> list[dict]:
    """One plan row per task x language x protocol with rows under data_dir: the config's languages,
    and (data_languages) any other language the folder has rows for, with the config's request shapes.
    A protocol whose own split has no file uses the language's other file as a stand-in (marked).
    Each task's requests are one job: deduplicated and sent in order as maple.generate.run does, to
    one engine whose prefix cache (`block_size`) each row's `prefill_tokens_after_cache` counts."""
    from maple.tasks import get_task
    from maple.tasks.spec import effective_settings

    if not os.path.isdir(data_dir):
        raise core.TaskDataError(f"--data-dir: {data_dir} is not a directory; allowed: a folder of "
                                 "{task}/{split}.{lang}.jsonl rows (../shared/data's layout)")
    loglik = bool(cfg["evaluation"].get("loglikelihood"))
    out = []
    for task, task_cfg in cfg["evaluation"]["tasks"].items():
        spec = get_task(task)
        langs = list(task_cfg["languages"])
        if data_languages:
            extra = [lang for lang in file_languages(data_dir, task) if lang not in langs]
            _check_file_languages(data_dir, task, extra, cfg["evaluation"].get("protocols", ["megaverse"]))
            langs += extra
        job = []  # (row, request) in the order the task's job builds them
        for lang in langs:
            for protocol in cfg["evaluation"].get("protocols", ["megaverse", "reference"]):
                proto = spec.protocol(protocol)
                eff = effective_settings(spec, lang, protocol, task_cfg)
                eval_split, shot_split = eff.eval_split, eff.shot_split
                config = (proto.config or spec.data_for(lang).config).format(lang=lang)
                eval_file = find_rows(data_dir, task, [f"{eval_split}.{lang}", f"{eval_split}.{lang}.{lang}",
                                                       f"sample.{lang}", f"{config}.{eval_split}"])
                stand_in = False
                if eval_file is None:
                    others = sorted(glob.glob(os.path.join(data_dir, task, f"*.{lang}.jsonl")) +
                                    glob.glob(os.path.join(data_dir, task, f"*.{lang}.{lang}.jsonl")))
                    if not others:
                        continue
                    eval_file, stand_in = others[-1], True
                shot_file = None
                if shot_split and not proto.shot_data:
                    shot_file = find_rows(data_dir, task, [f"{shot_split}.{lang}", f"{shot_split}.{lang}.{lang}"])
                    shot_file = None if shot_file == eval_file else shot_file
                eval_rows = core.check_rows(task, core.read_rows(eval_file, task), eval_file)
                shot_rows = core.check_rows(task, core.read_rows(shot_file, task), shot_file) if shot_file else None
                requests, info = core.plan_requests(
                    task, lang, protocol, eval_rows, shot_rows, task_cfg, cfg.get("prompt"), cfg["seed"], budget,
                )
                notes = [n for n, on in (("rows from another split", stand_in),
                                         ("shots from the evaluated rows", "stand-in" in info["shot_source"]),
                                         ("language not in config", lang not in task_cfg["languages"])) if on]
                row = {"task": task, "lang": lang, "protocol": protocol, "eval_rows": eval_file,
                       "notes": "; ".join(notes),
                       "eval_rows_stand_in": stand_in, "lang_in_config": lang in task_cfg["languages"], **info,
                       **core.summarise(requests, budget.max_model_len, info["max_new_tokens"]),
                       "expected_new_tokens_mean": expected_new_tokens(spec, eval_rows, info["max_new_tokens"], budget),
                       "judge_prompt_tokens_mean": judge_prompt_tokens(spec, eval_rows, cfg, budget) if spec.judged else None}
                out.append(row)
                job += [(row, r) for r in requests]
        cache_job(job, budget, block_size, loglik and spec.choices is not None,
                  derives_stops(cfg["evaluation"].get("backend", "vllm")))
    return out


def context_length_of(cfg: dict, model: str) -> int:
    """The context a model's prompts are fitted to in the workflow (maple.generate.run.context_length)."""
    from maple.generate.run import context_length

    return context_length({"evaluation": cfg["evaluation"]}, cfg["models"][model])


def judge_setup(cfg: dict) -> dict | None:
    """How the local judge runs (maple.judge.judge_cells), or None for an API judge or no judged task:
    prompts it prefills per judged pair (generation, plus the two letters' log-probabilities without the
    prefix cache; one when alpaca_eval's annotator reads top logprobs through vllm serve) and new tokens."""
    from maple.judge import SERVED_JUDGE_MARGIN
    from maple.tasks import judged_task

    judge = cfg["evaluation"].get("judge") or {}
    if judge.get("api") or not judge.get("model") or not judged_task(cfg["evaluation"]["tasks"]):
        return None
    served = bool(judge.get("annotator"))
    # reply: the new tokens a prompt is fitted to leave room for (judge_requests); a letter's log-probability
    # request is the prompt plus the letter's token
    return {"model": judge["model"], "served": served, "prefills_per_prompt": 1 if served else 3,
            "reply_tokens": SERVED_JUDGE_MARGIN if served else 8, "new_tokens": SERVED_JUDGE_MARGIN if served else 8 + 2}


def judge_prompt_tokens(spec, rows: list[dict], cfg: dict, budget) -> float | None:
    """Mean tokens of the local judge's prompt (both orders, maple.judge.judge_requests fitted to the
    context) when the model's output is as long as the reference, as the expected figure assumes."""
    from maple.judge import judge_requests

    setup = judge_setup(cfg)
    if setup is None or not rows:
        return None
    records = [{"id": str(i), "protocol": "", "gold": spec.gold(r), "instruction": r.get("instruction"),
                "prompt": "", "output": spec.gold(r)[0]} for i, r in enumerate(rows)]
    requests = judge_requests(records, None if setup["served"] else cfg.get("prompt"), setup["reply_tokens"], budget)
    return statistics.mean(budget.count(r["prompt"]) for r in requests)


def expected_new_tokens(spec, rows: list[dict], max_new_tokens: int, budget) -> float | None:
    """Mean new tokens of an output that answers as the shots do: the gold answer's text (the task's
    shot target, else the first gold text) and the stop string, at most max_new_tokens."""
    stop = spec.stop[0] if spec.stop else ""
    counts = []
    for row in rows:
        try:
            text = spec.target(row) if spec.target else spec.gold(row)[0]
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        counts.append(min(max_new_tokens, budget.count_bare(spec.target_delimiter + str(text) + stop)))
    return round(statistics.mean(counts), 1) if counts else None


def cache_job(job: list[tuple[dict, dict]], budget, block_size: int, loglik: bool, derive_stops: bool = True) -> None:
    """Adds to each row what one engine computes for the job: its unique prompts (as generate_unique
    sends them: failed ones dropped, identical (prompt, limits) once, in cache order), their tokens,
    those found cached, the first-sent prompt's uncached tokens and the median of the later ones',
    and uncached log-likelihood requests."""
    from maple.generate.backends import continuation
    from maple.generate.order import sent

    for row, _ in job:
        row.update(unique_requests=0, prefill_tokens=0, prefill_tokens_after_cache=0, first_uncached=None,
                   later_uncached_median=None, later_pairs_median=None, loglik_requests=0, loglik_tokens=0)
    later = {}
    row_of = {id(r): row for row, r in job}
    requests = sent([r for _, r in job], derive_stops)  # derive_stops: the configured backend's rule
    tok = budget.tokenizer
    ids = [tok(r["prompt"])["input_ids"] for r in requests]
    for r, n_ids, hit in zip(requests, ids, prefix_cache.cached_tokens(ids, block_size)):
        row = row_of[id(r)]
        row["unique_requests"] += 1
        row["prefill_tokens"] += len(n_ids)
        row["prefill_tokens_after_cache"] += len(n_ids) - hit
        if row["first_uncached"] is None:
            row["first_uncached"] = len(n_ids) - hit
        else:
            later.setdefault(id(row), (row, []))[1].append((len(n_ids) - hit, prefill_flops.attention_pairs(len(n_ids), hit)))
    for row, values in later.values():
        # the median: a few rows of a small sample draw other shots (shots from the evaluated rows
        # minus the row) and would weigh as much as at the paper's thousands of rows; the attention pairs
        # of the uncached tokens request by request, as their square grows with an uneven prompt's length
        row["later_uncached_median"] = statistics.median(u for u, _ in values)
        row["later_pairs_median"] = statistics.median(pairs for _, pairs in values)
    if loglik:  # prompt logprobs skip vLLM's prefix cache: every token is computed
        seen = set()
        for row, r in job:
            if r["failed"] or (r["prompt"], tuple(r["choices"])) in seen:
                continue
            seen.add((r["prompt"], tuple(r["choices"])))
            context = len(tok(r["prompt"])["input_ids"])
            for choice in r["choices"]:
                row["loglik_requests"] += 1
                row["loglik_tokens"] += context + budget.count_bare(continuation(r["prompt"], choice))


def train_tokens_per_example(budget, prompt_cfg: dict, files: list[str]) -> tuple[float | None, int]:
    from maple.data.tokenise import tokenise_example

    tokenizer = budget.tokenizer
    if tokenizer.eos_token_id is None:
        return None, 0
    lengths = []
    for path in files:
        for row in core.read_rows(path, "--train-rows"):
            if "instruction" in row and "output" in row:
                lengths.append(len(tokenise_example(row, tokenizer, prompt_cfg)["input_ids"]))
    return (statistics.mean(lengths) if lengths else None), len(lengths)


def _log_linear(by_rank: dict, rank: int) -> float:
    """tokens/s at `rank`, log-linear between the lowest and highest measured ranks."""
    lo, hi = min(by_rank), max(by_rank)
    if lo == hi:
        return by_rank[lo]
    r = min(max(rank, lo), hi)
    t = math.log(r / lo) / math.log(hi / lo)
    return by_rank[lo] * (by_rank[hi] / by_rank[lo]) ** t


def training_anchor(a: dict, results_file: str | None) -> dict:
    """Measured training rows (bits -> rank -> tokens/s at a measured depth) and their source: the
    copy in anchors.yaml, or a benchmarks/train_throughput.py results file (rows with impl maple)."""
    t = dict(a["training"])
    if results_file:
        import json

        try:
            with open(results_file, encoding="utf-8") as fh:
                data = json.load(fh)
            rows = [r for r in data["rows"] if r.get("impl") == "maple" and r.get("tokens_per_s")]
            table = {}
            for r in rows:
                table.setdefault(int(r["bits"]), {})[int(r["rank"])] = float(r["tokens_per_s"])
            layers = int(data["layers"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise core.TaskDataError(f"--train-throughput: {results_file}: not a train_throughput results "
                                     f"file (layers, rows of impl/bits/rank/tokens_per_s): {err}") from None
        if not table:
            raise core.TaskDataError(f"--train-throughput: {results_file} has no rows with impl maple")
        # the benchmark's layers have Llama-2-7B's shape: 202.4e6 parameters each, plus lm_head
        t.update(tokens_per_s=table, layers_measured=layers, params_measured=layers * 202.4e6 + 131e6,
                 file=results_file, commit=(data.get("provenance") or {}).get("commit", data.get("commit")),
                 source=f"{results_file} (rows impl=maple, {layers} layers, device {data.get('device')})")
    return t


def measured_train_rates(a: dict, model: str, root: Path = REPO) -> dict | None:
    """bits -> rank -> tokens/s of maple's own step for `model`, from the GPU benchmark files that
    anchors.yaml's `train_measured` cites: the 32-layer row of the model (one cell) scaled to every
    other bits x rank by the 8-layer benchmark's maple rows (same step, same per-layer work).
    None when anchors.yaml cites none or the files are absent (then the copied anchors are used)."""
    import json

    spec = a.get("train_measured")
    if not spec:
        return None
    full = root / spec["full_depth"].format(model=model)
    cells = root / spec["cells"]
    if not (full.is_file() and cells.is_file()):
        return None
    full_rows = [r for r in json.loads(full.read_text())["rows"] if r["impl"] == "maple"]
    maple = {(r["bits"], r["rank"]): r["tokens_per_s"] for r in json.loads(cells.read_text())["rows"] if r["impl"] == "maple"}
    if not full_rows or (full_rows[0]["bits"], full_rows[0]["rank"]) not in maple:
        return None
    ref = full_rows[0]
    scale = ref["tokens_per_s"] / maple[(ref["bits"], ref["rank"])]
    rates: dict = {}
    for (bits, rank), rate in maple.items():
        rates.setdefault(bits, {})[rank] = rate * scale
    return rates


def train_rate(t: dict, params_trained: float, bits: int, rank: int) -> float:
    """Full-model tokens/s at (bits, rank): the measured rows, log-linear in rank, scaled by FLOPs
    per token from the measured depth to the whole model; a missing rank takes 16-bit's ratio."""
    table = {int(b): {int(r): float(v) for r, v in ranks.items()} for b, ranks in t["tokens_per_s"].items()}
    by_rank = dict(table[int(bits)])
    ref = table.get(16, {})
    for r, v in ref.items():
        if r not in by_rank and by_rank and min(by_rank) in ref:
            base = min(by_rank)
            by_rank[r] = by_rank[base] * v / ref[base]
    return _log_linear(by_rank, rank) * float(t["params_measured"]) / params_trained


def _per_protocol(rows: list[dict]) -> dict:
    """(task, protocol) -> means over the measured config languages of what one request costs: from
    rows of the protocol's own split, else (marked stand_in) from another split's rows under its prompts."""
    own = {(r["task"], r["protocol"]) for r in rows if r["requests"] and r["lang_in_config"] and not r["eval_rows_stand_in"]}
    out, counted = {}, {}
    for r in rows:
        if r["requests"] and r["lang_in_config"] and (not r["eval_rows_stand_in"] or (r["task"], r["protocol"]) not in own):
            c = counted.setdefault((r["task"], r["protocol"]), [0, 0])
            c[0] += r["unique_requests"]
            c[1] += r["requests"] - r["failed"]
            if r["unique_requests"]:
                out.setdefault((r["task"], r["protocol"]), []).append(r)
    stats = {key: {"unique_fraction": 0.0} for key, (u, n) in counted.items() if n and not u}
    for key, rs in out.items():
        n = [r["unique_requests"] for r in rs]
        stats[key] = {
            "prompt": statistics.mean(r["prefill_tokens"] / k for r, k in zip(rs, n)),
            "first": statistics.mean(r["first_uncached"] for r in rs),
            # every later request of the language: what it adds beyond the cached prefix
            "steady": statistics.mean(r["first_uncached"] if r["later_uncached_median"] is None
                                      else r["later_uncached_median"] for r in rs),
            # their attention pairs, where a language measured more than one request
            "steady_pairs": statistics.mean(r["later_pairs_median"] for r in rs)
            if all(r.get("later_pairs_median") is not None for r in rs) else None,
            "expected_new": statistics.mean(r["expected_new_tokens_mean"] for r in rs
                                            if r["expected_new_tokens_mean"] is not None)
            if any(r["expected_new_tokens_mean"] is not None for r in rs) else None,
            "judge_prompt_tokens": statistics.mean(r["judge_prompt_tokens_mean"] for r in rs)
            if all(r.get("judge_prompt_tokens_mean") is not None for r in rs) else None,
            "loglik_requests": statistics.mean(r["loglik_requests"] / k for r, k in zip(rs, n)),
            "loglik_tokens": statistics.mean(r["loglik_tokens"] / k for r, k in zip(rs, n)),
            "max_new": rs[0]["max_new_tokens"],
            "languages_measured": len(rs),
            # requests sent to the engine: not identical to an earlier protocol's in the same job, nor derived
            # from a no-stop one (maple.generate.order.sent)
            "unique_fraction": counted[key][0] / counted[key][1],
            "stand_in": key not in own,
        }
    return stats


def _in_mode(cfg: dict, mode: str) -> dict:
    """The config with `evaluation.mode` set to `mode` (the plan reports both modes whatever is configured)."""
    import copy

    c = copy.deepcopy(cfg)
    c["evaluation"]["mode"] = mode
    return c


def serving_units(cfg: dict, model: str) -> dict:
    """Per evaluation mode, (cells served alone, multi_lora groups) of the model: each generates every
    task and has its AlpacaEval outputs judged by one job."""
    from maple import grid

    out = {}
    for mode in ("merged", "multi_lora"):
        c = _in_mode(cfg, mode)
        cells = [x for x in grid.eval_cells(c) if x.model == model]
        own = [x for x in cells if grid.serving_mode(c, x) == "merged"]  # in multi_lora the base rides a group
        groups = [g for g, members in grid.generation_groups(c).items() if members[0].model == model] \
            if mode == "multi_lora" else []
        out[mode] = (len(own), len(groups))
    return out


def engine_loads(cfg: dict, model: str) -> dict:
    """Generation engine loads (one per job) of the model's cells, per evaluation mode: a cell served
    alone has one job per task or evaluation.task_groups group, a multi_lora group one per task."""
    from maple import grid

    n_tasks = len(cfg["evaluation"]["tasks"])
    per_cell_jobs = len({grid.task_job(cfg, t) for t in cfg["evaluation"]["tasks"]})
    out = {mode: own * per_cell_jobs + groups * n_tasks for mode, (own, groups) in serving_units(cfg, model).items()}
    out["configured"] = cfg["evaluation"]["mode"]
    return out


def merge_jobs(cfg: dict, model: str) -> dict:
    """Adapter merges (merge_adapter: one per trained cell served merged) of the model's cells, per mode."""
    from maple import grid

    out = {}
    for mode in ("merged", "multi_lora"):
        c = _in_mode(cfg, mode)
        out[mode] = sum(1 for x in grid.eval_cells(c)
                        if x.model == model and not x.is_base and grid.serving_mode(c, x) == "merged")
    return out


def plan_config(cfg: dict, model: str, budget, data_dir: str, train_files: list[str],
                train_results: str | None = None, block_size: int | None = None) -> dict:
    from maple import grid
    from maple.tasks import get_task

    a = anchors()
    g = a["generation"]
    shape = model_shape.shape(model, cfg["models"][model], a)
    block_size = block_size or prefix_cache.BLOCK_SIZE.get(cfg.get("device", "cuda"), 16)
    rows = task_rows(cfg, model, budget, data_dir, block_size=block_size)

    # training: tokens per example from real rows, measured full-model rates
    t = training_anchor(a, train_results)
    full_depth = None if train_results else measured_train_rates(a, model)
    if full_depth:  # the model's own 32-layer row: no scaling by FLOPs per token
        t = {**t, "tokens_per_s": full_depth, "params_measured": shape["params_trained"],
             "source": f"{a['train_measured']['full_depth'].format(model=model)} and {a['train_measured']['cells']} "
                       f"(commit {a['train_measured'].get('commit')})"}
    per_example, n_train = train_tokens_per_example(budget, cfg["prompt"], train_files)
    epochs = float(cfg.get("training", {}).get("num_train_epochs", 1))
    cells = []
    for cell in grid.training_cells(cfg):
        if cell.model != model:
            continue
        size = int(cfg["datasets"][cell.dataset]["size"])
        tokens = size * per_example * epochs if per_example else None
        rate = train_rate(t, shape["params_trained"], cell.bits, cell.rank)
        cells.append({"cell": cell.id, "examples": size, "train_tokens": round(tokens) if tokens else None,
                      "train_tokens_per_s": round(rate),
                      "train_gpu_hours": round(tokens / rate / 3600, 2) if tokens else None})

    # generation of one cell at the paper's split sizes: per language, the first request pays its
    # uncached prompt, every later one the measured steady uncached rest (the cache's saving)
    stats = _per_protocol(rows)
    # requests: every request the cell scores; requests_sent: those the engine receives (an identical
    # earlier one's, or one derived from a no-stop output, is scored but not sent); tokens count the sent
    totals = dict.fromkeys(("requests", "requests_sent", "prefill_tokens", "prefill_tokens_after_cache",
                            "decode_tokens_max", "decode_tokens_expected", "loglik_requests", "loglik_tokens"), 0.0)
    unmeasured, not_planned, per_task = [], [], {}
    task_flops = {}  # task -> FLOPs of its uncached prompt tokens (prefill_flops), log-likelihood included
    # what each task x protocol x language sends: its decode seconds come after the loop, at the run's rates
    sends = []
    gpu = {**g["decode_gpu"], "matmul_flops_per_s": g["prefill_tokens_per_s"]["matmul_tflops"] * 1e12}
    params, arch = shape["params"], shape["arch"]
    fshape = {**arch, "body_params": shape["body_params"]}  # what a prompt token's FLOPs follow
    run, offline = g["published_run"], g["published_prefill_run"]
    # the serving run's prompt tokens/s at a FLOP rate: its answered prompts' FLOPs per token (mean length).
    # vLLM 0.4.2's offline FLOP rate bounds how long its first step took (vLLM 0.6.0: no later engine may
    # stand in for it); the card's peak how short its prefill can have been
    run_bounds = published_rates.token_bounds(run, offline, gpu["matmul_flops_per_s"])
    run_flops_per_token, offline_rate = run_bounds["flops_per_token"], run_bounds["prefill_floor"]
    run_compute_bound = run_bounds["compute_bound"]
    # each slow end alone (the judge's: its work is prefill, slowest at the serving run's first-token window)
    slow = published_rates.slow_end_rates(run, run_compute_bound, offline_rate)

    max_examples = cfg["evaluation"].get("max_examples")
    judge = judge_setup(cfg)
    judge_ctx = context_length_of(cfg, judge["model"]) - judge["reply_tokens"] if judge else 0
    judged = {"pairs": 0.0, "tokens_expected": 0.0}

    def expected_new(st):
        return st["expected_new"] if st["expected_new"] is not None else st["max_new"]

    def decode_seconds(published_decode, overhead):
        """Decode seconds per end of the range, in all and per task: each task at its own rate (decode_rate:
        the context matters), the slow end capped by the run's `published_decode` and paying its overhead."""
        ends, by_task, rates_of = dict.fromkeys(("low", "expected", "high"), 0.0), {}, {}
        for task, st, n in sends:
            key = id(st)
            if key not in rates_of:
                rates_of[key] = decode_rate.decode_rates(st["prompt"], min(st["steady"], st["prompt"]), st["max_new"],
                                                         expected_new(st), params, arch, gpu, published_decode, overhead)
            new_tokens = {"high": n * st["max_new"], "low": n * expected_new(st), "expected": n * expected_new(st)}
            for end, tokens in new_tokens.items():
                ends[end] += tokens / rates_of[key][end]
                by_task.setdefault(task, dict.fromkeys(ends, 0.0))[end] += tokens / rates_of[key][end]
        return ends, by_task

    for task, task_cfg in cfg["evaluation"]["tasks"].items():
        for protocol in cfg["evaluation"].get("protocols", ["megaverse", "reference"]):
            spec = get_task(task)
            p = spec.protocol(protocol)
            # identical prompts across protocols are generated once: the measured unique_fraction says how
            # many of this protocol's requests another protocol of the same job did not already send
            others = [v for (tk, q), v in stats.items() if tk == task and q != protocol and v["unique_fraction"]]
            st = stats.get((task, protocol)) or (others[0] if others else None)
            if (task, protocol) not in stats:
                unmeasured.append(f"{task}/{protocol}" + (" (other protocol's rows used)" if st else ""))
                if st is None:
                    not_planned.append(f"{task}/{protocol}")
            elif stats[(task, protocol)].get("stand_in"):
                unmeasured.append(f"{task}/{protocol} (another split's rows under its own prompts)")
            elif not st["unique_fraction"]:
                limited = any(get_task(task).protocol(q).eval_limit for q in cfg["evaluation"].get("protocols", ["megaverse", "reference"]))
                if not (p.eval_limit or not limited or not others):
                    # the measured rows are the other protocol's first eval_limit; split_rows counts the rest
                    st = {**others[0], "unique_fraction": 1.0}
                # else every prompt is another protocol's, or derived from its output: scored here, sent there
            if st is None:
                continue
            split = a["split_rows"][task][protocol]
            tt = per_task.setdefault(task, dict.fromkeys(totals, 0.0))
            for lang in task_cfg["languages"]:
                if isinstance(split, dict) and lang not in split:  # no size to count: said, not guessed
                    not_planned.append(f"{task}/{protocol}/{lang} (no split size in anchors.yaml split_rows)")
                    continue
                scored = split[lang] if isinstance(split, dict) else split
                if max_examples:  # the workflow samples at most this many rows per task x language x protocol
                    scored = min(scored, max_examples)
                if spec.judged and judge is not None:  # every scored output against its protocol's reference
                    judged["pairs"] += scored
                    judged["tokens_expected"] += scored * (st.get("judge_prompt_tokens") or judge_ctx)
                n = scored * st["unique_fraction"]
                if not n:  # scored, nothing sent
                    totals["requests"] += scored
                    tt["requests"] += scored
                    continue
                prompt = n * st["prompt"]
                sends.append((task, st, n))
                add = {"requests": scored, "requests_sent": n, "prefill_tokens": prompt,
                       "prefill_tokens_after_cache": min(prompt, st["first"] + (n - 1) * st["steady"]),
                       "decode_tokens_max": n * st["max_new"],
                       "decode_tokens_expected": n * expected_new(st),
                       "loglik_requests": n * st["loglik_requests"], "loglik_tokens": n * st["loglik_tokens"]}
                for k, v in add.items():
                    totals[k] += v
                    tt[k] += v
                # the uncached tokens sit after the cached prefix, late in the prompt: their attention counts
                task_flops[task] = task_flops.get(task, 0.0) + prefill_flops.uncached_flops(
                    fshape, st["prompt"], n, st["first"], st["steady"], st.get("steady_pairs")) + prefill_flops.loglik_flops(
                    fshape, add["loglik_requests"], add["loglik_tokens"])

    prefill = totals["prefill_tokens_after_cache"] + totals["loglik_tokens"]  # log-likelihood: uncached
    prefill_work = sum(task_flops.values())  # FLOPs of those tokens
    peak = gpu["matmul_flops_per_s"]
    # the offline runs' lower bounds on a prefill step's FLOP rate. vLLM 0.4.2's also bounds the serving
    # run's first step (offline_rate); the V1 engine's bounds maple's own prefill only
    offline_bounds = {name: prefill_flops.offline_flops_per_s(g[key])
                      for name, key in (("offline_run", "published_prefill_run"),
                                        ("offline_run_v1", "published_prefill_run_v1"))}

    def lower_bounds(serving_prefill):
        """Every published lower bound on a prefill step's FLOP/s, the serving run's at `serving_prefill`
        of its prompt tokens/s."""
        return {"serving_run": serving_prefill * run_flops_per_token, **offline_bounds}

    run_arch, mean_step = g["architecture"][run["architecture"]], published_rates.mean_step_s(run)

    def at_run_prefill(prefill_s):
        """The high end if the published run's prefill took prefill_s: its rates then (published_rates.rates_at),
        the prefill FLOP rate the highest of the lower bounds."""
        r = published_rates.rates_at(run, prefill_s, offline_rate)
        overhead = decode_rate.step_overhead(mean_step, r["kv_tokens_per_step"], float(run["params"]), run_arch, gpu)
        bounds = lower_bounds(r["prefill"])
        ends, by_task = decode_seconds(r["decode"], overhead)
        return {"high_s": prefill_work / max(bounds.values()) + ends["high"], "prefill_s": prefill_s, "run": r,
                "overhead_s": overhead, "bounds": bounds, "decode_s": ends, "task_decode_s": by_task}

    # the run's prefill and decode times share its duration: the slow end is the split of it, between
    # prefill at the compute bound and prefill over its whole first-token window, that is slowest for this
    # work. Past the split where the run's prefill FLOP rate falls to the offline bounds, the plan's prefill
    # rate stays put while the run's decoding speeds up: that split is a candidate beside the grid's points
    lo, hi = published_rates.prefill_seconds_range(run, run_compute_bound, offline_rate)
    crossing = prefill_flops.serving_prompt_flops(run) / max(offline_bounds.values())
    splits = [lo + (hi - lo) * i / 40 for i in range(41)] + ([crossing] if lo < crossing < hi else [])
    worst = max(map(at_run_prefill, splits), key=lambda c: c["high_s"])
    decode_s, task_decode_s, overhead_s = worst["decode_s"], worst["task_decode_s"], worst["overhead_s"]
    run_kv_tokens, prefill_bounds = worst["run"]["kv_tokens_per_step"], worst["bounds"]
    prefill_flops_rate = {"bound": peak, "published": max(prefill_bounds.values())}
    # tokens/s at the cell's mix of contexts: its uncached tokens over their FLOPs' seconds
    per_token = prefill_work / prefill if prefill else 2 * shape["body_params"]
    prefill_rate = {k: v / per_token for k, v in prefill_flops_rate.items()}
    prefill_end = {"low": "bound", "expected": "published", "high": "published"}
    hours = {end: (prefill_work / prefill_flops_rate[prefill_end[end]] + decode_s[end]) / 3600 for end in decode_s}
    # before its engine steps a job needs the ids of every prompt it sends (and each log-likelihood context)
    # while its GPU waits: with device cuda it reads them from build_requests' files (maple.generate.prebuilt),
    # else it tokenises them; at maple's measured rate at the slow and expected ends, none at the fast end
    ids_from, ids_key = (("read from build_requests' files", "job_read_tokens_per_s") if grid.prebuilds_requests(cfg)
                         else ("tokenised in the job", "job_tokenize_tokens_per_s"))
    tokenize_rate = float(g[ids_key])
    tokenize_s = (totals["prefill_tokens"] + totals["loglik_tokens"]) / tokenize_rate
    for end in ("expected", "high"):
        hours[end] += tokenize_s / 3600
    decode_keys = {"low": "decode_tokens_expected", "high": "decode_tokens_max"}
    rates = {"job_prompt_ids": {"from": ids_from, "anchor": ids_key, "tokens_per_s": round(tokenize_rate)},
             "prefill_tokens_per_s": {**{k: round(v) for k, v in prefill_rate.items()},
                                      **{f"{k}_flops_per_s": round(v) for k, v in prefill_flops_rate.items()},
                                      # FLOP/s by run
                                      "published_lower_bounds": {k: round(v) for k, v in prefill_bounds.items()},
                                      # per task: its uncached tokens over their FLOPs' seconds at each end
                                      "per_task": {t: {end: round((v["prefill_tokens_after_cache"] + v["loglik_tokens"])
                                                                  * prefill_flops_rate[key] / task_flops[t])
                                                       for end, key in (("low", "bound"), ("high", "published"))}
                                                   for t, v in per_task.items() if task_flops.get(t)}},
             "run_prefill_s": {"range": [round(lo, 2), round(hi, 2)], "slowest_for_this_work": round(worst["prefill_s"], 2),
                               "decode_s": round(worst["run"]["decode_s"], 2)},
             "decode_tokens_per_s": {"published": round(worst["run"]["decode"]),
                                     "step_overhead_ms": round(overhead_s * 1000, 1),
                                     "run_mean_step_ms": round(published_rates.mean_step_s(run) * 1000, 2),
                                     "run_kv_tokens_per_step": round(run_kv_tokens),
                                     # the slow end's KV cache leaves this out (decode_rate.decode_rates)
                                     "non_kv_reserve_gib": round(float(gpu.get("non_kv_reserve_bytes", 0)) / 2**30, 2),
                                     # per task: its decode tokens over its decode seconds at each end
                                     "per_task": {t: {end: round(per_task[t][decode_keys[end]] / s[end])
                                                      for end in decode_keys if s[end]}
                                                  for t, s in task_decode_s.items()}}}
    range_basis = ("prefill in FLOPs: per uncached prompt token 2 x the model's layer parameters plus attention "
                   "over its context position (after the cached prefix), per prompt one lm_head (log-likelihood "
                   "requests: every position's); low end: those FLOPs at the matmul peak and, for decode, the "
                   "roofline at each task's "
                   "context (weights and KV cache read per step, the shared prefix once), with the expected "
                   "decode; high end: published vLLM rates (anchors.yaml: prefill at the highest of three lower "
                   "bounds on a prefill step's FLOP rate, a serving run's first tokens and two offline runs' FLOPs, "
                   "decoding included, over their time, vLLM 0.4.2's and the V1 engine's; decode the serving run's "
                   "output rate net of its own prefill, both from the engine's first work, its prefill and decode "
                   "times summing to its duration, split as is slowest for this work), "
                   "decode at most the roofline step with the prefix read per sequence plus that run's "
                   "measured mean step beyond reading its weights and KV cache, every output running "
                   "to max_new_tokens; the high and expected ends also hold the GPU while the job gets the ids "
                   f"of the prompts it sends ({ids_from}), at maple's measured rate (anchors.yaml {ids_key})")
    judge_cell = None
    if judge is not None and judged["pairs"]:
        # the local judge's own model: its FLOPs per token at its prompts' lengths, at the published FLOP rate
        jshape = model_shape.shape(judge["model"], cfg["models"][judge["model"]], a)
        jf = {**jshape["arch"], "body_params": jshape["body_params"]}
        j_published = max(lower_bounds(slow["prefill"]).values())
        prompts = 2 * judged["pairs"]  # both orders of every pair
        letters = judge["prefills_per_prompt"] - 1  # each a prompt plus one token
        tokens = {"high": prompts * (judge["prefills_per_prompt"] * judge_ctx + letters),
                  "expected": 2 * judged["tokens_expected"] * judge["prefills_per_prompt"] + prompts * letters}

        def judge_work(length):
            """FLOPs of every prompt at `length` tokens: prefilled whole, its letters' requests with logits
            at every position (prompt logprobs)."""
            return prompts * (prefill_flops.prompt_flops(jf, length, length)
                              + letters * prefill_flops.prompt_flops(jf, length + 1, length + 1, lm_heads=length + 1))

        work = {"high": judge_work(judge_ctx), "expected": judge_work(judged["tokens_expected"] / judged["pairs"])}
        decode_j = prompts * judge["new_tokens"] / slow["decode"]
        j_hours = {"low": (work["expected"] / peak) / 3600,
                   "expected": (work["expected"] / j_published + decode_j) / 3600,
                   "high": (work["high"] / j_published + decode_j) / 3600}
        judge_cell = {
            "model": judge["model"], "prompts": round(prompts), "prefills_per_prompt": judge["prefills_per_prompt"],
            "prefill_tokens_max": round(tokens["high"]), "prefill_tokens_expected": round(tokens["expected"]),
            "gpu_hours_range": [round(j_hours["low"], 3), round(j_hours["high"], 3)],
            "gpu_hours_expected": round(j_hours["expected"], 3),
            "basis": ("Both orders of every scored AlpacaEval output against its protocol's reference; each prompt "
                      + ("prefilled once (alpaca_eval's annotator reads the first token's top logprobs through vllm "
                         "serve)" if judge["served"] else
                         "prefilled three times: its 8-token generation and the two letters' log-probabilities, "
                         "which read no prefix cache (maple.judge.judge_cells)")
                      + "; no prefix counted as cached. High end: every prompt fills the judge's context, its "
                      "FLOPs (the judge's layers, attention over each token's context, logits where read) at the "
                      "published prefill FLOP rate; expected: the output as long as the reference (measured with "
                      "--tokenizer), at that rate; low end: the same at the matmul peak"),
        }

    # where the high end's hours go: each task's uncached prompt FLOPs at the slow prefill rate plus its decode
    hours_by_task = {t: round((task_flops.get(t, 0.0) / prefill_flops_rate["published"]
                               + task_decode_s.get(t, {}).get("high", 0.0)
                               + (v["prefill_tokens"] + v["loglik_tokens"]) / tokenize_rate) / 3600, 2)
                      for t, v in per_task.items()}
    per_cell = {
        "max_examples": max_examples,
        "requests": round(totals["requests"]),
        "requests_sent": round(totals["requests_sent"]),
        "prefill_tokens": round(totals["prefill_tokens"]),
        "prefill_tokens_after_cache": round(totals["prefill_tokens_after_cache"]),
        "cache_block_size": block_size,
        "decode_tokens_max": round(totals["decode_tokens_max"]),
        "decode_tokens_expected": round(totals["decode_tokens_expected"]),
        "decode_max_basis": "every sent output runs to max_new_tokens; not counted: an output cut at its stop "
                            "before its scored part settled (an XNLI/XCOPA first line left empty) is generated "
                            "again without stops, up to max_new_tokens more",
        "decode_expected_basis": "each output as long as its gold answer written as the shots' targets, plus the stop "
                                 "string, capped at max_new_tokens (measured on the rows with the model's tokenizer)",
        "loglikelihood": {"requests": round(totals["loglik_requests"]),
                          "prompt_tokens_uncached": round(totals["loglik_tokens"]),
                          "enabled": bool(cfg["evaluation"].get("loglikelihood"))},
        "gpu_hours_range": [round(hours["low"], 2), round(hours["high"], 2)],
        "gpu_hours_expected": round(hours["expected"], 2),
        "gpu_hours_basis": range_basis,
        "gpu_hours_high_by_task": hours_by_task,
        "job_prompt_ids_seconds": round(tokenize_s),
        "rates": rates,
        "per_task": {k: {kk: round(vv) for kk, vv in v.items()} for k, v in per_task.items()},
        "judge": judge_cell,
        "unmeasured": unmeasured,
        # no rows of any split under --data-dir: left out of every figure (print_plan says so on stderr)
        "not_planned": not_planned,
    }
    model_cells = [c for c in grid.eval_cells(cfg) if c.model == model]
    loads = engine_loads(cfg, model)
    n_loads = loads[loads["configured"]]
    load_h = {k: n_loads * v / 3600 for k, v in g["engine_load_s"].items()}
    n = len(model_cells)
    gen_grid = {
        "model": model,
        "cells": n,
        **{k: per_cell[k] * n for k in ("requests", "requests_sent", "prefill_tokens", "prefill_tokens_after_cache",
                                         "decode_tokens_max", "decode_tokens_expected")},
        "engine_loads": loads,
        "engine_load_gpu_hours": [round(load_h["low"], 1), round(load_h["high"], 1)],
        "gpu_hours_range": [round(hours["low"] * n + load_h["low"], 1), round(hours["high"] * n + load_h["high"], 1)],
        "gpu_hours_expected": round(hours["expected"] * n + load_h["low"], 1),
    }
    # a merge reads the base and writes the merged weights: each counted as one engine load's time
    merges = merge_jobs(cfg, model)
    n_merges = merges[loads["configured"]]
    merge_grid = {"jobs": merges, "gpu_hours_range": [round(2 * n_merges * g["engine_load_s"][k] / 3600, 1)
                                                      for k in ("low", "high")]}
    judge_grid = None
    if per_cell["judge"]:
        jc = per_cell["judge"]
        jobs = sum(serving_units(cfg, model)[loads["configured"]])  # one judge job per cell served alone or group
        jload = {k: jobs * v / 3600 for k, v in g["engine_load_s"].items()}
        judge_grid = {"model": jc["model"], "jobs": jobs, "prompts": jc["prompts"] * n,
                      "engine_load_gpu_hours": [round(jload["low"], 1), round(jload["high"], 1)],
                      "gpu_hours_range": [round(jc["gpu_hours_range"][0] * n + jload["low"], 1),
                                          round(jc["gpu_hours_range"][1] * n + jload["high"], 1)],
                      "gpu_hours_expected": round(jc["gpu_hours_expected"] * n + jload["low"], 1)}
    train_h = [c["train_gpu_hours"] for c in cells]
    training = {
        "model": model,
        "cells": len(cells),
        "train_tokens": sum(c["train_tokens"] for c in cells) if per_example else None,
        "gpu_hours": round(sum(train_h), 1) if per_example else None,
        "basis": f"{t['source'].strip()} Tokens per example from {n_train} rows of --train-rows"
                 + ("" if per_example else ": none given, so no hours"),
        "file": t.get("file"),
        "commit": t.get("commit"),
    }
    stages = []
    for bits in sorted({c.bits for c in grid.training_cells(cfg) if c.model == model}):
        sel = [c for c in cells if c["cell"].endswith(f"-b{bits}") and c["train_gpu_hours"] is not None]
        stages.append({"stage": f"train {bits}-bit", "jobs": len(sel),
                       "gpu_hours": round(sum(c["train_gpu_hours"] for c in sel), 1)})
    if n_merges:
        stages.append({"stage": "merge adapters", "jobs": n_merges,
                       "gpu_hours": f"{merge_grid['gpu_hours_range'][0]}-{merge_grid['gpu_hours_range'][1]}"})
    if grid.prebuilds_requests(cfg):  # the GPU jobs read them (maple.generate.prebuilt)
        stages.append({"stage": "build requests (CPU, once per task)", "jobs": len(cfg["evaluation"]["tasks"]),
                       "gpu_hours": "0"})
    stages.append({"stage": "generate (per cell)", "jobs": 1,
                   "gpu_hours": f"{per_cell['gpu_hours_range'][0]}-{per_cell['gpu_hours_range'][1]}"})
    stages.append({"stage": "engine loads", "jobs": n_loads,
                   "gpu_hours": f"{gen_grid['engine_load_gpu_hours'][0]}-{gen_grid['engine_load_gpu_hours'][1]}"})
    stages.append({"stage": "generate (all cells)", "jobs": n_loads,
                   "gpu_hours": f"{gen_grid['gpu_hours_range'][0]}-{gen_grid['gpu_hours_range'][1]}"})
    if judge_grid:
        stages.append({"stage": "judge AlpacaEval (all cells)", "jobs": judge_grid["jobs"],
                       "gpu_hours": f"{judge_grid['gpu_hours_range'][0]}-{judge_grid['gpu_hours_range'][1]}"})
    return {
        "model": model,
        "max_model_len": budget.max_model_len,
        "model_shape": {"params": shape["params"], "params_trained": shape["params_trained"],
                        "body_params": shape["body_params"],
                        "kv_bytes_per_token": decode_rate.kv_bytes_per_token(shape["arch"]), "source": shape["source"]},
        "rows": rows,
        "train_tokens_per_example": round(per_example, 1) if per_example else None,
        "train_examples_measured": n_train,
        "cells": cells,
        "generation_per_cell": per_cell,
        "judge_grid": judge_grid,
        "merge_grid": merge_grid,
        "generation_grid": gen_grid,
        "training_grid": training,
        "stages": stages,
        "over_limit": sum(r["over_limit"] for r in rows),
        "sources": _sources(a),
    }


def _sources(a: dict) -> dict:
    flat = {}

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            elif str(k).startswith("source"):
                flat[f"{prefix}{k}"] = " ".join(str(v).split())

    walk(a)
    return flat


def print_plan(result: dict, print_table, row_columns) -> None:
    print(f"# prompts: {result['model']}, max_model_len {result['max_model_len']}")
    print_table(result["rows"], (*row_columns, "unique_requests", "prefill_tokens", "prefill_tokens_after_cache",
                                 "notes"))
    print(f"\n# training: {result['train_tokens_per_example']} tokens per example "
          f"(measured on {result['train_examples_measured']} rows)")
    print_table(result["cells"], ("cell", "examples", "train_tokens", "train_tokens_per_s", "train_gpu_hours"))
    g = result["generation_per_cell"]
    print(f"\n# generation per cell: {g['requests']} requests scored, {g['requests_sent']} sent, "
          f"{g['prefill_tokens']} prompt tokens "
          f"({g['prefill_tokens_after_cache']} after the prefix cache, {g['cache_block_size']}-token blocks), "
          f"<= {g['decode_tokens_max']} new tokens (expected {g['decode_tokens_expected']}); "
          f"not measured here: {', '.join(g['unmeasured']) or 'none'}")
    if g["not_planned"]:
        import sys

        print(f"maple.plan: warning: left out of every figure: {', '.join(g['not_planned'])} (those without a "
              "reason have no rows under --data-dir: give DIR/{task}/{split}.{lang}.jsonl)", file=sys.stderr)
    print("\n# GPU-hours per stage (sources in maple/plan/anchors.yaml)")
    print_table(result["stages"], ("stage", "jobs", "gpu_hours"))
