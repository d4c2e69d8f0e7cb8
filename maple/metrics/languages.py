"""Which language codes each task takes (the dataset's own config codes), checked before scoring."""

from __future__ import annotations

import re

from maple.metrics.errors import ScoringInputError
from maple.tasks.spec import PROTOCOLS
from maple.tasks.specs import TASKS as REGISTRY

FLORES_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")  # Belebele configs: eng_Latn, zho_Hans, ...
BY_PATTERN = {"belebele"}  # 122 FLORES-200 codes: checked by pattern, not by the paper's list

TASKS = tuple(REGISTRY)  # at import; check() reads the registry itself, so registered tasks count


def check(task: str, lang: str, protocol: str) -> None:
    """Raise ScoringInputError (one line) for an unknown task, protocol or language of the task.
    A task's languages are its registry spec's (the datasets' config codes; MLQA: the 7 its script
    normalises); Belebele's 122 FLORES-200 codes are checked by pattern."""
    if task not in REGISTRY:
        raise ScoringInputError(f"unknown task {task!r}; known: {', '.join(REGISTRY)}")
    if protocol not in PROTOCOLS:
        raise ScoringInputError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    allowed = None if task in BY_PATTERN else REGISTRY[task].languages
    if allowed is None:
        if not isinstance(lang, str) or not FLORES_CODE.match(lang):
            raise ScoringInputError(f"unknown language {lang!r} for belebele: expected a FLORES code such as eng_Latn")
    elif lang not in allowed:
        raise ScoringInputError(f"unknown language {lang!r} for {task}; known: {', '.join(allowed)}")
