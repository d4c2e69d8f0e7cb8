"""Which language codes each task takes (the dataset's own config codes), checked before scoring."""

from __future__ import annotations

import re

from maple.metrics.errors import ScoringInputError
from maple.tasks.spec import PROTOCOLS
from maple.tasks.specs import TASKS as REGISTRY

TASKS = tuple(REGISTRY)  # at import; check() reads the registry itself, so registered tasks count


def check(task: str, lang: str, protocol: str) -> None:
    """Raise ScoringInputError (one line) for an unknown task, protocol or language of the task.
    A task's languages are its registry spec's (the datasets' config codes; MLQA: the 7 its script
    normalises), or any code matching the spec's `language_pattern` (Belebele's FLORES-200 codes)."""
    if task not in REGISTRY:
        raise ScoringInputError(f"unknown task {task!r}; known: {', '.join(REGISTRY)}")
    if protocol not in PROTOCOLS:
        raise ScoringInputError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    spec = REGISTRY[task]
    if lang in spec.languages or (spec.language_pattern and isinstance(lang, str)
                                  and re.fullmatch(spec.language_pattern, lang)):
        return
    if spec.language_pattern:
        raise ScoringInputError(f"unknown language {lang!r} for {task}: expected a code matching "
                                f"{spec.language_pattern} such as {spec.languages[0]}")
    raise ScoringInputError(f"unknown language {lang!r} for {task}; known: {', '.join(spec.languages)}")
