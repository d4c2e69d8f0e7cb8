"""What each rule needs from a machine, and where it runs: the one table that the rules (threads,
resources), the SLURM profile (GPU partition), the cost report (GPU-hours) and the offline switch
(maple.rule_script.hub_environment: only the download rules reach the hub) all read. A rule missing here fails at parse time, so a new rule
cannot be left off the GPU partition or out of the cost report. No heavy imports: the SLURM profile
imports this module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needs:
    """Built-in needs of one rule; config `resources.default` then `resources.<key>` override them."""

    threads: int = 1
    mem_mb: int = 2000
    runtime: int = 30  # minutes
    gpu: bool = False  # may hold a GPU: config `gpu` counts then, and it goes to the GPU partition
    hub: bool = False  # reaches the Hugging Face hub (a download rule, on the submit host); all others run offline
    key: str | None = None  # config `resources` entry it reads (group rules share their per-cell rule's)


RULES: dict[str, Needs] = {
    "build_tiny_model": Needs(runtime=10),
    "download_dataset": Needs(mem_mb=4000, runtime=60, hub=True),
    "tokenise_dataset": Needs(mem_mb=4000, runtime=60),
    "download_model": Needs(runtime=240, hub=True),
    "download_eval": Needs(runtime=120, hub=True),
    "train_adapter": Needs(runtime=60, gpu=True),
    "merge_adapter": Needs(runtime=30, gpu=True),
    "build_requests": Needs(mem_mb=8000, runtime=60),
    "generate_outputs": Needs(runtime=60, gpu=True),
    "generate_group_outputs": Needs(runtime=60, gpu=True, key="generate_outputs"),
    "generate_task_group_outputs": Needs(runtime=120, gpu=True),  # several tasks: its own entry
    "check_served_model": Needs(runtime=30, gpu=True, key="generate_outputs"),
    "check_group_served_models": Needs(runtime=60, gpu=True, key="generate_outputs"),
    "judge_alpaca_eval": Needs(runtime=60, gpu=True),
    "judge_group_alpaca_eval": Needs(runtime=60, gpu=True, key="judge_alpaca_eval"),
    "score_outputs": Needs(runtime=30),
    "aggregate_scores": Needs(runtime=10),
    "bootstrap_scores": Needs(mem_mb=4000, runtime=120),
    "export_lm_eval": Needs(mem_mb=1000, runtime=5),
    "make_tables": Needs(runtime=10),
    "plot_figure": Needs(runtime=10),
    "render_report": Needs(runtime=10),
}
GPU_RULES = tuple(rule for rule, needs in RULES.items() if needs.gpu)
HUB_RULES = tuple(rule for rule, needs in RULES.items() if needs.hub)
CONFIG_KEYS = {"default"} | {needs.key or rule for rule, needs in RULES.items()}
MEM_PER_RETRY = 1.5


def _needs(rule: str) -> Needs:
    try:
        return RULES[rule]
    except KeyError:
        raise KeyError(f"rule {rule!r} is not in maple.resources.RULES; add its needs there") from None


def declared(config: dict, rule: str) -> dict:
    """threads, mem_mb, runtime, gpu and mem_mb_per_retry of one rule: the table < config `default` <
    config `<key>`. A rule that is not a GPU rule asks for no GPU whatever the config says."""
    needs = _needs(rule)
    conf = config.get("resources") or {}
    out = {"threads": needs.threads, "mem_mb": needs.mem_mb, "runtime": needs.runtime, "gpu": 0,
           "mem_mb_per_retry": MEM_PER_RETRY}
    out.update(conf.get("default") or {})
    out.update(conf.get(needs.key or rule) or {})
    out["gpu"] = int(out["gpu"] or 0) if needs.gpu else 0
    return out


def gpus(config: dict, rule: str) -> int:
    """GPUs one job of this rule holds (0 for a rule not in the table: nothing declared)."""
    return declared(config, rule)["gpu"] if rule in RULES else 0


def check(config: dict) -> None:
    """Config `resources` names only rules of the table, and gives GPUs only to GPU rules."""
    for key, spec in (config.get("resources") or {}).items():
        if key not in CONFIG_KEYS:
            raise ValueError(f"resources.{key}: not a rule; allowed: {', '.join(sorted(CONFIG_KEYS))}")
        gpu_keys = {RULES[r].key or r for r in GPU_RULES}
        if key not in gpu_keys | {"default"} and (spec or {}).get("gpu"):
            raise ValueError(f"resources.{key}.gpu: {key} runs on CPU; GPU rules: {', '.join(sorted(gpu_keys))}")
