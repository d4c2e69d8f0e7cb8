"""What every `script:` shares: send output to the rule's log, turn user errors into one line."""

from __future__ import annotations

import os
import signal
import sys
import traceback

from maple.deps import MissingDependency

# errors a user can cause (config, data, the training.fail switch, a missing optional package);
# anything else is a bug
USER_ERRORS = (ValueError, FileNotFoundError, MissingDependency)


def _limit_threads(threads: int) -> None:
    """Use the cores Snakemake granted, no more: parallel jobs must not oversubscribe the CPU."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read by torch when it is first imported
        os.environ[var] = str(max(1, int(threads)))


def run(snakemake, main) -> None:
    """Call main(snakemake) with stdout/stderr (file descriptors too) redirected to the log."""
    log_path = snakemake.log[0] if len(snakemake.log) else os.devnull
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    console = os.fdopen(os.dup(2), "w")
    with open(log_path, "w", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        hub_environment(snakemake)
        _limit_threads(getattr(snakemake, "threads", 1))
        # scancel / timeouts send SIGTERM: exit through Python so atomic writes clean up after themselves
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            main(snakemake)
        except USER_ERRORS as err:
            line = f"maple: {snakemake.rule}: {type(err).__name__}: {err}"
            traceback.print_exc(file=log)
            print(line, file=log)
            print(line, file=console, flush=True)
            sys.exit(1)


def hub_environment(snakemake) -> None:
    """The shared HF cache (config hf_home, else the environment's HF_HOME). Every rule but the
    download rules (maple.resources: `hub`) runs offline: compute nodes read only the snapshots the
    download rules fetched on the submit host."""
    from maple.resources import HUB_RULES

    hf_home = (getattr(snakemake, "config", None) or {}).get("hf_home")
    if hf_home:
        os.environ["HF_HOME"] = os.path.abspath(os.path.expanduser(hf_home))
    if getattr(snakemake, "rule", "") not in HUB_RULES:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        print("maple: HF_HUB_OFFLINE=1, reading local snapshots only", flush=True)


def as_list(value) -> list[str]:
    """A named Snakemake input holding one path is a str; holding several, a list."""
    return [value] if isinstance(value, str) else list(value)
