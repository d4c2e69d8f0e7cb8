"""Snakemake targets for part of the study: one cell, one task, or both; or the figures / tables only.

    snakemake --cores 2 $(python -m maple.targets --task xnli)                       # one task, every cell
    snakemake --cores 2 $(python -m maple.targets --cell tiny-llama/alpaca/r8-b16)   # one cell, every task
    snakemake --cores 2 $(python -m maple.targets --figures)                         # every figure (and its CSV, PDF)
    snakemake --configfile config/paper.yaml --cores 2 \
        $(python -m maple.targets --configfile config/paper.yaml --cell llama-2-7b/none/base --task xquad)

Prints the score files (the jobs that make them pull in training, generation and judging), or with
--figures / --tables the report's files (which pull in every score). Pass snakemake the same
--configfile: the targets are paths of that config's grid.
"""

from __future__ import annotations

import argparse
import sys

from maple import config as maple_config
from maple import grid, paths


def score_targets(config: dict, cells=None, tasks=None) -> list[str]:
    known_cells = [c.id for c in grid.eval_cells(config)]
    known_tasks = grid.tasks(config)
    for kind, picked, known in (("cell", cells, known_cells), ("task", tasks, known_tasks)):
        for name in picked or []:
            if name not in known:
                raise maple_config.ConfigError(f"--{kind}: {name!r} is not in the config; known: {', '.join(known)}")
    return [
        paths.fill(paths.SCORES, cell=cell, task=task)
        for cell in (cells or known_cells)
        for task in (tasks or known_tasks)
    ]


def report_targets(config: dict, figures: bool, tables: bool) -> list[str]:
    """Every figure's PNG (its PDF and CSV come from the same job) and/or the tables."""
    protocols = config["evaluation"]["protocols"]
    return (paths.figure_pngs(protocols) if figures else []) + (paths.table_files() if tables else [])


# printed to stdout on an error when stdout is captured: `snakemake $(python -m maple.targets ...)`
# would otherwise get no target and run the whole study; Snakemake refuses this one before any job
FAILED_TARGET = "maple.targets-failed--see-the-error-above"
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise maple_config.ConfigError(f"{message} (see --help)")


def main(argv=None) -> int:
    parser = _Parser(prog="python -m maple.targets", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config.yaml")
    parser.add_argument("--cell", action="append", help=f"a cell id, {grid.TRAINED_ID} or {grid.BASE_ID}; repeatable")
    parser.add_argument("--task", action="append", help="a task of evaluation.tasks; repeatable")
    parser.add_argument("--figures", action="store_true", help="every figure of the report (PNG; PDF and CSV beside)")
    parser.add_argument("--tables", action="store_true", help="Tables 1-2 and reproduction.csv")
    try:
        args = parser.parse_args(argv)
        config = maple_config.validate(maple_config.load_yaml(args.configfile), ".")
        if (args.figures or args.tables) and (args.cell or args.task):
            parser.error("--figures/--tables use every cell and task; they do not combine with --cell/--task")
        if args.figures or args.tables:
            targets = report_targets(config, args.figures, args.tables)
        else:
            targets = score_targets(config, args.cell, args.task)
    except maple_config.ConfigError as err:
        print(f"maple.targets: error: {err}", file=sys.stderr)
        if not sys.stdout.isatty():
            print(FAILED_TARGET)
        return EXIT_BAD_INPUT
    print(" ".join(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
