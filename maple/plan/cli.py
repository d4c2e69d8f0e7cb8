"""python -m maple.plan: what the paper grid's prompts, training and generation cost, before any job runs.

One task x language (the form a check outside this repository calls):
  python -m maple.plan --configfile config/paper.yaml --model mistral-7b --tokenizer TOK
      --task TASK --lang LANG --eval-rows FILE [--shot-rows FILE] [--protocol megaverse|reference]
The whole config, from a folder of rows named {split}.{lang}.jsonl per task (../shared/data's layout):
  python -m maple.plan --configfile config/paper.yaml --model mistral-7b --tokenizer TOK --data-dir DIR
      [--train-rows FILE ...] [--train-throughput FILE] [--block-size N] [--json-out FILE] [--markdown FILE [--readme README.md]]
The last stdout line is one JSON object. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from maple.plan import core


class PlanError(ValueError):
    """Bad input: reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise PlanError(message)


def parse_args(argv):
    ap = _Parser(prog="python -m maple.plan", description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", required=True)
    ap.add_argument("--model", required=True, help="a name under models: in the config")
    ap.add_argument("--tokenizer", required=True, help="SentencePiece model file or Hugging Face tokenizer directory")
    ap.add_argument("--task")
    ap.add_argument("--lang")
    ap.add_argument("--eval-rows", help="JSONL rows of the evaluated split in the task's hub schema")
    ap.add_argument("--shot-rows", help="JSONL rows the shots are drawn from")
    ap.add_argument("--protocol", default="megaverse", choices=["megaverse", "reference"])
    ap.add_argument("--data-dir", help="rows of every task: DIR/{task}/{split}.{lang}.jsonl")
    ap.add_argument("--train-rows", action="append", default=[], help="finetuning rows (instruction/input/output)")
    ap.add_argument("--train-throughput", help="a benchmarks/train_throughput.py results file (JSON): its rows "
                    "with impl maple replace the measured training rates in maple/plan/anchors.yaml")
    ap.add_argument("--block-size", type=int, help="vLLM's KV block size (default: 16 on cuda, 128 on cpu)")
    ap.add_argument("--json-out")
    ap.add_argument("--markdown", help="write the whole-config plan as Markdown (docs/cost.md)")
    ap.add_argument("--readme", help="with --markdown: replace README's generated cost block with its summary")
    args = ap.parse_args(argv)
    if args.task is None and args.data_dir is None:
        raise PlanError("give --task with --lang and --eval-rows, or --data-dir for the whole config")
    if args.readme and not args.markdown:
        raise PlanError("--readme needs --markdown (the README's block is the Markdown plan's summary)")
    if args.block_size is not None and args.block_size < 1:
        raise PlanError(f"--block-size: {args.block_size}; allowed: a positive number of tokens")
    if args.task is not None and (args.lang is None or args.eval_rows is None):
        raise PlanError("--task needs --lang and --eval-rows")
    if args.task is not None and args.data_dir is not None:
        raise PlanError("give either --task (one task x language) or --data-dir (the whole config), not both")
    if args.task is not None:
        from maple.metrics.errors import ScoringInputError
        from maple.metrics.languages import check

        try:  # the language codes of the workflow and maple.score (XL-Sum: thai, not th)
            check(args.task, args.lang, args.protocol)
        except ScoringInputError as err:
            raise PlanError(f"--task/--lang: {err}") from None
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise PlanError(f"--data-dir: {args.data_dir} is not a directory (expected DIR/{{task}}/{{split}}.{{lang}}.jsonl)")
    return args


def load_config(path: str) -> dict:
    from maple import config as maple_config

    # the workflow's own loader and checks (duplicate keys, file, line and column)
    try:
        return maple_config.validate(maple_config.load_yaml(path), ".")
    except maple_config.ConfigError as err:
        raise PlanError(f"--configfile: {err}") from None


def make_budget(cfg: dict, model: str, tokenizer_path: str):
    from maple.generate.run import context_length
    from maple.plan.tokenizer import load_tokenizer
    from maple.tasks.budget import Budget

    if model not in cfg["models"]:
        raise PlanError(f"--model: {model!r} is not in the config; allowed: {', '.join(cfg['models'])}")
    settings = {"evaluation": cfg["evaluation"]}
    return Budget(load_tokenizer(tokenizer_path), context_length(settings, cfg["models"][model]))


def one_task(args, cfg, budget) -> dict:
    from maple.tasks import get_task

    spec = get_task(args.task)
    task_cfg = cfg["evaluation"]["tasks"].get(args.task, {})
    eval_rows = core.check_rows(args.task, core.read_rows(args.eval_rows, "--eval-rows"),
                                f"--eval-rows {args.eval_rows}")
    shot_rows = core.check_rows(args.task, core.read_rows(args.shot_rows, "--shot-rows"),
                                f"--shot-rows {args.shot_rows}") if args.shot_rows else None
    requests, info = core.plan_requests(
        spec.name, args.lang, args.protocol, eval_rows, shot_rows, task_cfg, cfg.get("prompt"), cfg["seed"], budget,
        cfg["evaluation"].get("max_examples"),
    )
    from maple.plan import grid_cost, prefix_cache

    result = {
        "task": spec.name, "lang": args.lang, "protocol": args.protocol, "model": args.model,
        "lang_in_config": args.lang in task_cfg.get("languages", []), **info,
        **core.summarise(requests, budget.max_model_len, info["max_new_tokens"]),
    }
    # what one engine sent these requests computes (the whole-config plan does this per job)
    block_size = args.block_size or prefix_cache.BLOCK_SIZE.get(cfg.get("device", "cuda"), 16)
    grid_cost.cache_job([(result, r) for r in requests], budget, block_size,
                         bool(cfg["evaluation"].get("loglikelihood")) and spec.choices is not None,
                         grid_cost.derives_stops(cfg["evaluation"].get("backend", "vllm")))
    return {**result, "cache_block_size": block_size}


ROW_COLUMNS = ("task", "lang", "protocol", "requests", "prompt_tokens_median", "prompt_tokens_max", "shots",
               "shots_min", "shots_max", "fewer_shots", "truncated", "failed", "over_limit")


def print_table(rows: list[dict], columns) -> None:
    header = " | ".join(columns)
    print(header)
    print("-" * len(header))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in columns))


def main(argv=None) -> int:
    from maple.deps import MissingDependency
    from maple.plan.model_shape import ModelShapeError
    from maple.plan.tokenizer import TokenizerError
    from maple.tasks.spec import TaskDataError, UnknownTaskError

    try:
        args = parse_args(argv)
        cfg = load_config(args.configfile)
        budget = make_budget(cfg, args.model, args.tokenizer)
        if args.task is not None:
            result = one_task(args, cfg, budget)
            print_table([result], ROW_COLUMNS)
        else:
            from maple.plan import grid_cost

            result = grid_cost.plan_config(cfg, args.model, budget, args.data_dir, args.train_rows,
                                           args.train_throughput, args.block_size)
            if not any(r["requests"] for r in result.get("rows", [])):
                raise PlanError(f"--data-dir: no rows under {args.data_dir} for any task of the config "
                                f"(expected {args.data_dir}/{{task}}/{{split}}.{{lang}}.jsonl)")
            grid_cost.print_plan(result, print_table, ROW_COLUMNS)
    except (PlanError, TokenizerError, TaskDataError, UnknownTaskError, MissingDependency, ModelShapeError) as err:
        print(f"maple.plan: error: {err}", file=sys.stderr)
        return 2
    if args.json_out:
        from maple.io import atomic_file

        os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
        with atomic_file(args.json_out) as fh:
            json.dump(result, fh, indent=1, ensure_ascii=False)
    if args.markdown and args.task is None:
        import datetime
        import shlex

        from maple.io import atomic_file
        from maple.plan.cost_doc import render

        command = "python -m maple.plan " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        text = render(result, command, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
        with atomic_file(args.markdown) as fh:
            fh.write(text)
        if args.readme:
            from maple.plan.cost_doc import update_readme

            with open(args.readme, encoding="utf-8") as fh:
                readme = fh.read()
            with atomic_file(args.readme) as fh:
                fh.write(update_readme(readme, text))
    print(json.dumps(result, ensure_ascii=False))
    return 0
