"""Synthetic score rows for the report tests: a small grid in the docs/interfaces.md row format.

2 models x 2 datasets x 2 ranks x 3 bits + 2 base models, all 7 tasks, a few languages each, both
protocols. Values are deterministic and structured (mistral > llama, higher rank/bits keep English
better) so that "best config" has a known answer: for every model x dataset, r16-b16 is best.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

MODELS = {"tiny-llama": "llama", "tiny-mistral": "mistral"}
DATASETS = ["multialpaca", "bactrian-x-22"]
RANKS = [8, 16]
BITS = [4, 8, 16]
PROTOCOLS = ["megaverse", "reference"]
LANGS = {
    "xnli": ["en", "de", "sw", "th", "zh"],
    "xcopa": ["et", "sw", "th", "zh"],
    "xquad": ["en", "de", "hi", "th", "zh"],
    "mlqa": ["en", "de", "hi", "zh"],
    "belebele": ["eng_Latn", "deu_Latn", "hin_Deva", "tha_Thai", "zho_Hans", "ita_Latn", "fin_Latn"],
    "xlsum": ["english", "hindi", "thai", "chinese_simplified"],
    "alpaca_eval": ["en"],
}
METRICS = {
    "xnli": ["accuracy"], "xcopa": ["accuracy"], "belebele": ["accuracy"],
    "xquad": ["f1", "exact_match"], "mlqa": ["f1", "exact_match"], "xlsum": ["rougeL"],
}
TASKS = list(LANGS)
FAMILIES = dict(MODELS)
CONFIG = {
    "seed": 1,
    "models": {m: {"path": f"resources/models/{m}", "family": f, "hf_token": "hf_SECRET_SHOULD_NOT_LEAK"}
               for m, f in MODELS.items()},
    "datasets": {d: {"languages": ["en"], "size": 8} for d in DATASETS},
    "grid": [{"models": list(MODELS), "datasets": DATASETS, "ranks": RANKS, "bits": BITS}],
    "evaluate_base_models": True,
    "evaluation": {"protocols": PROTOCOLS, "tasks": {t: {"languages": ls} for t, ls in LANGS.items()},
                   "judge": {"model": "tiny-llama", "api": None, "api_key": "sk-SECRET"}},
    "report": {"belebele_groups": {"group1": ["ar", "de", "es", "fr", "id", "ja", "ko", "pt", "ru", "th", "vi"],
                                   "group2": ["zh", "hi", "tr", "sw", "ur", "ta", "bn", "it", "nl", "pl", "he"]}},
    "resources": {"default": {"gpu": 0}, "train_adapter": {"gpu": 1}, "generate_outputs": {"gpu": 1}},
}


def _noise(*key) -> float:
    """Deterministic pseudo-noise in [0, 0.02)."""
    return (zlib.crc32("|".join(map(str, key)).encode()) % 1000) / 50000


def value(model, dataset, rank, bits, task, lang, protocol, metric) -> float:
    base = 0.30 if MODELS[model] == "llama" else 0.50
    if dataset is not None:
        base += 0.02 + 0.02 * (rank == 16) + 0.01 * {4: 0, 8: 1, 16: 2}[bits]
    base += {"megaverse": 0.0, "reference": 0.03}[protocol]
    base -= 0.05 if metric == "exact_match" else 0.0
    if lang in ("en", "eng_Latn", "english") and dataset is not None:
        base -= 0.04 - 0.01 * (rank == 16) - 0.01 * {4: 0, 8: 1, 16: 2}[bits]
    v = base + _noise(model, dataset, task, lang, metric)  # same noise across configs: ordering is exact
    if task == "alpaca_eval":
        return round(100 * v / 3, 3)
    return round(min(max(v, 0.0), 1.0), 4)


def cells():
    out = [(m, None, None, None) for m in MODELS]
    out += [(m, d, r, b) for m in MODELS for d in DATASETS for r in RANKS for b in BITS]
    return out


def cell_id(model, dataset, rank, bits) -> str:
    return f"{model}/none/base" if dataset is None else f"{model}/{dataset}/r{rank}-b{bits}"


def rows_for(model, dataset, rank, bits, task) -> list[dict]:
    rows = []
    mode = "vllm/base" if dataset is None else "vllm/multi_lora"
    for protocol in PROTOCOLS:
        if task == "alpaca_eval":
            metrics = ["win_rate"] if protocol == "megaverse" else ["lc_win_rate", "win_rate"]
        else:
            metrics = METRICS[task]
        for lang in LANGS[task]:
            for metric in metrics:
                rows.append({
                    "model": model, "dataset": dataset or "none", "rank": rank, "bits": bits, "task": task,
                    "language": lang, "protocol": protocol, "metric": metric,
                    "value": value(model, dataset, rank, bits, task, lang, protocol, metric),
                    "n": 6, "mode": mode,
                })
    return rows


def score_paths(root: Path) -> tuple[list[str], list[dict]]:
    """(score_files, expected_cells) of the synthetic grid under root, as aggregate_scores takes them."""
    files, expected = [], []
    for model, dataset, rank, bits in cells():
        cid = cell_id(model, dataset, rank, bits)
        for task in TASKS:
            path = root / "results" / "scores" / cid / f"{task}.json"
            files.append(str(path))
            expected.append({"cell": cid, "model": model, "dataset": dataset or "none", "rank": rank, "bits": bits,
                             "task": task, "path": str(path)})
    return files, expected


SPREAD = (-0.05, 0.05, -0.03, 0.03, 0.0, 0.0)  # n = 6 examples whose mean is the row's value


def examples_for(model, dataset, rank, bits, task) -> list[dict]:
    """Per-example scores (score stage's `.examples.jsonl` records) averaging to each headline row's value."""
    metric = {"alpaca_eval": "win_rate"}.get(task) or METRICS[task][0]
    out = []
    for row in rows_for(model, dataset, rank, bits, task):
        if row["metric"] != metric:
            continue
        for i, d in enumerate(SPREAD):
            if task == "alpaca_eval":
                score = {"win": row["value"] / 100 + d, "judgements": 2, "unparsed": 0}
            else:
                score = {metric: row["value"] + d}
            out.append({"id": f"{row['language']}-{i}", "lang": row["language"], "protocol": row["protocol"],
                        "prediction": None, "score": score})
    return out


def write_scores(root: Path, skip=()) -> tuple[list[str], list[dict]]:
    """Write results/scores/{cell}/{task}.json (and .examples.jsonl) under root; `skip` = {(cell_id, task)}
    or {cell_id} left unwritten. Returns score_paths(root) (the skipped paths included)."""
    for model, dataset, rank, bits in cells():
        cid = cell_id(model, dataset, rank, bits)
        for task in TASKS:
            if cid in skip or (cid, task) in skip:
                continue
            path = root / "results" / "scores" / cid / f"{task}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rows_for(model, dataset, rank, bits, task), indent=1), encoding="utf-8")
            examples = "".join(json.dumps(e) + "\n" for e in examples_for(model, dataset, rank, bits, task))
            path.with_name(f"{task}.examples.jsonl").write_text(examples, encoding="utf-8")
    return score_paths(root)


BOOTSTRAP = {"resamples": 200, "seed": 1, "confidence": 0.95}


BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmarks(root: Path) -> Path:
    """benchmarks/<rule>/<wildcards>.tsv for a few rules, cells and a multi_lora group, in the layouts
    the rules write (maple.grid's job layouts: per cell and task, per group and task, per group)."""
    from maple import grid, paths

    r8b4 = "tiny-llama/multialpaca/r8-b4"
    entries = [
        ("train_adapter", r8b4, 3600.0, 2048.0, 3000.0),
        ("train_adapter", "tiny-llama/multialpaca/r16-b16", 7200.0, 4096.0, 6000.0),
        ("merge_adapter", r8b4, 60.0, 1024.0, 50.0),
        ("generate_outputs", grid.CELL_TASK_JOB.format(cell=r8b4, task="xnli"), 600.0, 8192.0, 500.0),
        ("generate_outputs", grid.CELL_TASK_JOB.format(cell=r8b4, task="xquad"), 1200.0, 8192.0, 1100.0),
        ("generate_group_outputs", grid.GROUP_TASK_JOB.format(model="tiny-llama", rank=16, task="xnli"),
         1800.0, 8192.0, 1700.0),
        ("judge_group_alpaca_eval", grid.GROUP_JOB.format(model="tiny-llama", rank=16), 900.0, 8192.0, 800.0),
        ("score_outputs", grid.CELL_TASK_JOB.format(cell="tiny-llama/none/base", task="xnli"), 30.0, 512.0, 25.0),
        ("aggregate_scores", "all", 5.0, 256.0, 4.0),
    ]
    for rule, wc, s, rss, cpu in entries:
        path = Path(root) / paths.benchmark(rule, wc)
        path.parent.mkdir(parents=True, exist_ok=True)
        hms = f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"
        path.write_text(BENCH_HEADER + f"{s}\t{hms}\t{rss}\t{rss * 2}\t{rss}\t{rss}\t10.5\t20.25\t95.0\t{cpu}\n",
                        encoding="utf-8")
    bench = Path(root) / "benchmarks"
    (bench / "broken").mkdir(parents=True, exist_ok=True)
    (bench / "broken" / "x.tsv").write_text("", encoding="utf-8")
    (bench / "score_outputs" / "tiny-mistral" / "none" / "base").mkdir(parents=True, exist_ok=True)
    (bench / "score_outputs" / "tiny-mistral" / "none" / "base" / "xnli.tsv").write_text(
        BENCH_HEADER + "NA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n", encoding="utf-8")
    return bench


def build_report(root: Path, skip=(), protocols=None) -> dict:
    """The whole report stage on the synthetic grid under root; returns the paths written."""
    from maple.report.aggregate import aggregate_scores
    from maple.report.cost import cost_tables, gpus_from_config
    from maple.report.figures import make_figures
    from maple.report.html import render_report
    from maple.report.intervals import write_intervals
    from maple.report.pipeline import report_tables, write_tables

    files, expected = write_scores(root, skip=skip)
    results = root / "results"
    tidy = aggregate_scores(files, expected, str(results / "scores.parquet"), str(results / "scores.csv"),
                            str(results / "missing_cells.json"))
    example_files = [f[: -len(".json")] + ".examples.jsonl" for f in files]
    averages, comparisons = write_intervals(example_files, BOOTSTRAP, str(results / "averages.csv"),
                                            str(results / "comparisons.csv"))
    tables = write_tables(str(results / "scores.parquet"), CONFIG, str(results / "tables"),
                          str(results / "averages.csv"))
    pngs = make_figures(tidy, str(root / "figures"), CONFIG, protocols=protocols, averages=averages,
                        comparisons=comparisons)
    cost = cost_tables(str(write_benchmarks(root)), gpus_from_config(CONFIG), out_dir=str(results / "cost"))
    missing = json.loads((results / "missing_cells.json").read_text())
    html = render_report(str(results / "report.html"),
                         {**report_tables(str(results / "tables"), CONFIG), "Tidy table (head)": tidy.head(5)},
                         pngs, {"per stage": cost["per_stage"], "per cell": cost["per_cell"]}, CONFIG, missing)
    return {"tidy": tidy, "tables": tables, "pngs": pngs, "cost": cost, "missing": missing, "html": html,
            "averages": averages, "comparisons": comparisons}
