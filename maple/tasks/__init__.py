"""The task registry: one declarative spec per evaluation task, prompt building and answer extraction.

Light at import time (the Snakefile may import it at parse time): `datasets` is imported only
inside the loader, when requests are built.

    get_task(name) -> TaskSpec
    build_requests(task, lang, protocol, task_cfg, seed, max_examples=None, prompt_cfg=None) -> list[dict]
    extract_answer(task, protocol, output, request) -> int label | str
    wrap_prompt(text, prompt_cfg) -> str
"""

from __future__ import annotations

from maple.tasks.build import build_requests
from maple.tasks.spec import PROTOCOLS, DataRef, ProtocolSpec, TaskDataError, TaskSpec, UnknownTaskError
from maple.tasks.specs import TASKS
from maple.template import wrap_prompt

__all__ = [
    "PROTOCOLS",
    "TASKS",
    "DataRef",
    "ProtocolSpec",
    "TaskDataError",
    "TaskSpec",
    "UnknownTaskError",
    "build_requests",
    "extract_answer",
    "get_task",
    "judged_task",
    "wrap_prompt",
]


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}; allowed: {', '.join(TASKS)}") from None


def judged_task(names) -> str | None:
    """The task among `names` scored from a judge's pairwise preferences (AlpacaEval): the task the
    judge rules read. By the spec's kind, not its name."""
    return next((name for name in names if get_task(name).judged), None)


def extract_answer(task: str, protocol: str, output: str | None, request: dict):
    """The prediction the scorer compares with request["gold"] (an int label or a string).

    An empty or missing output gives -1 (multiple choice) or "" (generative): it scores zero."""
    return get_task(task).protocol(protocol).extract(output or "", request)
