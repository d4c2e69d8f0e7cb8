"""One evaluated cell's scores in lm-evaluation-harness's results layout (`results/lm_eval/{cell}.json`),
so lm-eval tooling and leaderboards that read its `results_*.json` read maple's numbers.

Layout (lm_eval 0.4 `simple_evaluate` output, the keys its readers use):
    results           {"{task}_{lang}_{protocol}": {"alias", "<metric>,none", "<metric>_stderr,none"}}
                      (the protocol is part of the task name: the two protocols score the same outputs
                      differently, as two lm-eval task variants would)
    groups            {"{task}_{protocol}": the average over languages, stderr "N/A" as lm-eval writes
                      when it cannot pool one (the stratified interval is in results/averages.csv)}
    group_subtasks, configs, versions, n-shot, higher_is_better, n-samples {"original", "effective"},
    config            {"model", "model_args", ..., "bootstrap_iters", "random_seed"}
    git_hash, date    the workflow's commit (and `maple.git_dirty`)
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

from maple.io import atomic_file, provenance, versions
from maple.report.aggregate import read_score_file
from maple.report.common import PERCENT_METRICS

TASK_VERSION = 1.0  # lm-eval's per-task version number; maple's tasks have one definition each


def _shots(task: str, protocol: str, task_cfg: dict):
    """Few-shot examples of a task under a protocol: the config's override, else the registry's."""
    if "shots" in task_cfg:
        return int(task_cfg["shots"])
    try:
        from maple.tasks import get_task

        return int(get_task(task).protocol(protocol).shots)
    except (ValueError, KeyError, AttributeError):
        return None


def _number(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "N/A"  # what lm-eval writes for a stderr it could not compute
    return value


def lm_eval_results(cell_id: str, rows: list[dict], config: dict | None = None) -> dict:
    """The lm-eval results dict of one cell's score rows (`results/scores/{cell}/{task}.json` rows)."""
    config = config or {}
    results, subtasks, configs, n_samples, higher, n_shot = {}, defaultdict(list), {}, {}, {}, {}
    tasks_cfg = (config.get("evaluation") or {}).get("tasks") or {}
    for row in sorted(rows, key=lambda r: (r["task"], r["language"], r["protocol"], r["metric"])):
        name = f"{row['task']}_{row['language']}_{row['protocol']}"
        entry = results.setdefault(name, {"alias": name})
        entry[f"{row['metric']},none"] = _number(row.get("value"))
        entry[f"{row['metric']}_stderr,none"] = _number(row.get("stderr"))
        entry.setdefault("maple_ci", {})[row["metric"]] = [row.get("ci_low"), row.get("ci_high")]
        higher.setdefault(name, {})[row["metric"]] = True
        n = row.get("n")
        n_samples[name] = {"original": n, "effective": n}
        group = f"{row['task']}_{row['protocol']}"
        if name not in subtasks[group]:
            subtasks[group].append(name)
        task_cfg = tasks_cfg.get(row["task"], {})
        configs[name] = {"task": name, "tag": [group], "dataset_path": task_cfg.get("source"),
                         "output_type": "generate_until", "metadata": {"protocol": row["protocol"],
                                                                        "language": row["language"]}}
        n_shot[name] = _shots(row["task"], row["protocol"], task_cfg)
    # lm-eval keeps the interval-free keys flat; maple's percentile interval rides along in a side block
    maple_ci = {name: entry.pop("maple_ci") for name, entry in results.items()}
    groups = {}
    by_group = defaultdict(list)
    for row in rows:
        if row.get("value") is not None:
            by_group[(f"{row['task']}_{row['protocol']}", row["metric"])].append(row["value"])
    for (group, metric), values in sorted(by_group.items()):
        # the unweighted mean over languages, as Table 1 averages them (interval: results/averages.csv)
        entry = groups.setdefault(group, {"alias": group})
        entry[f"{metric},none"] = sum(values) / len(values)
        entry[f"{metric}_stderr,none"] = "N/A"
        higher.setdefault(group, {})[metric] = True
    stats_cfg = config.get("statistics") or {}
    prov = provenance()
    evaluation = config.get("evaluation") or {}
    return {
        "results": results,
        "groups": groups,
        "group_subtasks": dict(subtasks),
        "configs": configs,
        "versions": {name: TASK_VERSION for name in [*results, *groups]},
        "n-shot": n_shot,
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {
            "model": f"maple/{evaluation.get('backend', 'vllm')}",
            "model_args": f"cell={cell_id}",
            "batch_size": None,
            "device": config.get("device"),
            "limit": evaluation.get("max_examples"),
            "bootstrap_iters": stats_cfg.get("resamples", 1000),
            "random_seed": config.get("seed"),
            "gen_kwargs": {"do_sample": False},
        },
        "git_hash": (prov["git_commit"] or "")[:7] or None,
        "model_name": cell_id,
        "maple": {"cell": cell_id, "git_commit": prov["git_commit"], "git_dirty": prov["git_dirty"],
                  "versions": versions(), "percent_metrics": list(PERCENT_METRICS),
                  "confidence": stats_cfg.get("confidence", 0.95), "ci": maple_ci},
    }


def write_lm_eval(cell_id: str, score_files: list[str], out_json: str, config: dict | None = None) -> dict:
    rows = []
    for path in score_files:
        rows += read_score_file(path)
    out = lm_eval_results(cell_id, rows, config)
    with atomic_file(out_json) as fh:
        json.dump(out, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
    return out
