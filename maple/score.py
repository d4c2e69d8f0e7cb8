"""Score a JSONL file of predictions with one task's metric, outside the workflow.

    python -m maple.score --task xquad --lang de --protocol reference --input preds.jsonl [--stem]
    python -m maple.score --task belebele --protocol megaverse < outputs.jsonl

Lines: {"prediction": str, "references": [str, ...]} for xquad, mlqa, xlsum;
{"prediction": int | str, "label": int | str} for xnli, xcopa, belebele; or the workflow's raw
output records ({"output", "gold", "choices", ...}); AlpacaEval judgement records for alpaca_eval.
--lang takes the task's own codes: `de`, `zh` (xquad, mlqa, xnli, xcopa), XL-Sum config names
(`thai`, `chinese_simplified`), FLORES codes (`eng_Latn`, belebele). It may be left out where the
score does not depend on the language (xnli, xcopa, belebele, alpaca_eval). --input defaults to stdin.

Prints one JSON object, the summary, on the last line of stdout: `f1` and `exact_match` (xquad,
mlqa), `rougeL` (xlsum), `accuracy` (classification), `win_rate`/`lc_win_rate` (alpaca_eval),
plus `n`; scores on 0..1 (win rates in %). With --intervals it adds `stderr` and `ci`
({metric: value} and {metric: [low, high]}: lm-eval's standard error and a seeded percentile
bootstrap interval over the examples, as the workflow's score rows carry them).
Bad input prints one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from maple.metrics import PROTOCOLS, TASKS, MetricUnavailableError, ScoringInputError, score_records
from maple.metrics.languages import check
from maple.tasks.specs import TASKS as TASK_SPECS

EXIT_BAD_INPUT = 2
MIN_RESAMPLES = 10


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise ScoringInputError(f"{message} (see --help)")


def parse_args(argv=None) -> argparse.Namespace:
    parser = _Parser(prog="python -m maple.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    parser.add_argument("--lang", help="the task's language code / config name (required for xquad, mlqa, xlsum)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--input", default="-", help="JSONL file, one record per line ('-', the default: stdin)")
    parser.add_argument("--stem", action="store_true", help="xlsum reference: stem with the language's stemmer")
    parser.add_argument("--examples", help="also write per-example scores to this JSONL file")
    parser.add_argument("--intervals", action="store_true", help="add stderr and a bootstrap interval per metric")
    parser.add_argument("--resamples", type=int, help="bootstrap resamples (with --intervals; default 1000, at least 10)")
    parser.add_argument("--seed", type=int, help="bootstrap seed (with --intervals; default 0)")
    args = parser.parse_args(argv)
    # options this call would not use are refused, not ignored
    for name in ("resamples", "seed"):
        if getattr(args, name) is not None and not args.intervals:
            raise ScoringInputError(f"--{name} applies to --intervals only (see --help)")
    args.resamples = 1000 if args.resamples is None else args.resamples
    args.seed = 0 if args.seed is None else args.seed
    if args.resamples < MIN_RESAMPLES:  # as the config's statistics.resamples
        raise ScoringInputError(f"--resamples: {args.resamples} is below the minimum of {MIN_RESAMPLES}")
    if args.stem and args.task in TASK_SPECS and (args.task, args.protocol) != ("xlsum", "reference"):
        raise ScoringInputError("--stem applies to --task xlsum --protocol reference only (ROUGE stemming)")
    if args.examples:
        import os

        folder = os.path.dirname(os.path.abspath(args.examples))
        if not os.path.isdir(folder):
            raise ScoringInputError(f"--examples: folder {folder} does not exist")
    return args


def intervals(summary: dict, per_example: list[dict], resamples: int, seed: int) -> dict:
    """{"stderr": {metric: ...}, "ci": {metric: [low, high]}} for the metrics with per-example values."""
    from maple.score_cell import example_values, uncertainty

    out = {"stderr": {}, "ci": {}}
    for metric, value in summary.items():
        if metric == "n":
            continue
        u = uncertainty(example_values(per_example, metric), value, {"resamples": resamples, "seed": seed})
        if u["ci_low"] is not None:
            out["stderr"][metric] = u["stderr"]
            out["ci"][metric] = [u["ci_low"], u["ci_high"]]
    return out


def read_records(path: str) -> tuple[list[dict], list[int]]:
    """The JSON objects of a JSONL file and their line numbers (blank lines skipped)."""
    from maple.io import read_user_jsonl

    return read_user_jsonl(path, ScoringInputError)


def default_lang(task: str) -> str:
    """A stand-in language for tasks whose score does not depend on it; others must name one."""
    if task not in TASK_SPECS:
        return ""  # check() names the unknown task
    if not TASK_SPECS[task].language_free:
        raise ScoringInputError(f"--lang is required for task {task!r} (its metric depends on the language)")
    return TASK_SPECS[task].languages[0]


def main(argv=None) -> int:
    path = None
    try:
        args = parse_args(argv)
        path = args.input
        if args.lang is None:
            args.lang = default_lang(args.task)
        check(args.task, args.lang, args.protocol)  # an unknown task or language before the file
        records, line_numbers = read_records(path)
        summary, per_example = score_records(args.task, args.lang, args.protocol, records, {"stem": args.stem})
    except ScoringInputError as err:
        message = str(err)
        if err.record is not None and path is not None:
            # "record 3: missing field ..." -> "FILE line 5: missing field ..."
            message = f"{path} line {line_numbers[err.record]}: " + re.sub(r"^record \d+: ", "", message)
        print(f"maple.score: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MetricUnavailableError as err:
        print(f"maple.score: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.examples:
        with open(args.examples, "w", encoding="utf-8") as fh:
            for example in per_example:
                fh.write(json.dumps(example, ensure_ascii=False) + "\n")
    if args.intervals:
        summary = {**summary, **intervals(summary, per_example, args.resamples, args.seed)}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
