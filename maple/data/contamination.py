"""What the tiny models' tokenizer and warm-up may not read: every split any protocol evaluates.

Derived from the task registry (maple.tasks.specs), not from file names: a split is excluded when
some protocol of some task scores on it (its `eval_split`, and per-language overrides such as
English COPA's), in every dataset directory the task evaluates from (the task's own and its
per-language ones, e.g. `copa` for English XCOPA). AlpacaEval (an instruction task judged
pairwise) is excluded whole. Shot-only data (SQuAD train, COPA train, XNLI/XL-Sum train) stays:
it is shown in prompts, never scored.
"""

from __future__ import annotations

from pathlib import Path


def evaluated_splits(task_cfgs: dict | None = None) -> dict[str, set[str] | None]:
    """local dataset name -> the splits some protocol evaluates (None: every split).

    task_cfgs: the config's `evaluation.tasks`; a task's `split` override is evaluated too."""
    from maple.tasks.spec import INSTRUCTION
    from maple.tasks.specs import TASKS

    out: dict[str, set[str] | None] = {}
    for name, spec in TASKS.items():
        dirs = {spec.data.local_name} | {ref.local_name for ref in spec.lang_data.values()}
        if spec.kind == INSTRUCTION:
            out.update({d: None for d in dirs})
            continue
        splits = set()
        for proto in spec.protocols.values():
            splits.add(proto.eval_split)
            splits.update(ev for ev, _ in proto.lang_splits.values())
        override = ((task_cfgs or {}).get(name) or {}).get("split")
        if override:
            splits.add(override)
        for d in dirs:
            if out.get(d, set()) is not None:
                out[d] = out.get(d, set()) | splits
    return out


def split_of(path: Path) -> str:
    """The split a bundled JSONL file holds: `test.jsonl`, `test.eng_Latn.jsonl` -> `test`."""
    return path.name.split(".", 1)[0]


def is_evaluated(path: str | Path, root: str | Path, excluded: dict[str, set[str] | None]) -> bool:
    """Whether `path` (under `root`) belongs to an evaluated split: the first directory under the
    root names the dataset (resources/eval/<local name>/...)."""
    rel = Path(path).resolve().relative_to(Path(root).resolve())
    if len(rel.parts) < 2 or rel.parts[0] not in excluded:
        return False
    splits = excluded[rel.parts[0]]
    return splits is None or split_of(Path(path)) in splits
