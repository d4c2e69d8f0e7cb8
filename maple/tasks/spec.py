"""The declarative shape of an evaluation task (in the spirit of lm-evaluation-harness task YAMLs).

A TaskSpec says where the data lives, how one example becomes a prompt and a gold answer, and, per
protocol, which splits and how many shots are used and how a raw generation becomes a prediction.
Nothing here loads data: see loading.py and build.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

PROTOCOLS = ("megaverse", "reference")

MULTIPLE_CHOICE = "multiple_choice"  # gold is an int label, choices are the verbalised options
EXTRACTIVE_QA = "extractive_qa"  # gold is a list of reference answer strings
SUMMARISATION = "summarisation"  # gold is [reference summary]
INSTRUCTION = "instruction"  # gold is [reference output]; judged pairwise (AlpacaEval)


class UnknownTaskError(ValueError):
    """A task name that is not in the registry."""


class TaskDataError(ValueError):
    """A language, config, split or file the task's data source does not have."""


@dataclass(frozen=True)
class DataRef:
    """A dataset on the hub and the name of its local mirror beside the task's own local source.

    `config` is a pattern with `{lang}` (e.g. `xquad.{lang}`, `mlqa.{lang}.{lang}`).
    `local_name` is the sibling directory used when the task's `source` is a local directory.
    """

    hub_id: str
    config: str
    local_name: str


@dataclass(frozen=True, eq=False)
class ProtocolSpec:
    """How one protocol uses a task: splits, shots, answer extraction and the scoring variant."""

    eval_split: str
    shot_split: str | None
    shots: int
    extract: Callable[[str, dict], Any]  # (raw output, request) -> prediction; never raises
    metrics: tuple[str, ...]
    scorer: str  # the scoring variant maple.metrics implements (names below in specs.py)
    shot_data: DataRef | None = None  # shots from another dataset (XQuAD: English SQuAD)
    config: str | None = None  # overrides TaskSpec.data.config (AlpacaEval v1 vs v2)
    eval_limit: int | None = None  # evaluate only the first N rows of the split
    lang_splits: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # lang -> (eval, shot)
    # None: the task's stop strings plus the prompt template's header; a tuple: exactly these (the
    # megaverse protocol's: only stops its scoring rule provably cannot see past)
    stop: tuple[str, ...] | None = None
    # with `stop`: True when an output cut at a stop already fixes the score; an output for which it is
    # False is generated again without stop strings (maple.generate.run.generate_unique)
    stop_settles: Callable[[str], bool] | None = None
    query: Callable[[dict], str] | None = None  # the protocol's own prompt text of an example (None: the task's)
    # (numpy seed, draw): shots are the draw-th np.random.choice(len(split), shots, replace=False) after
    # np.random.seed(seed), in that order, as MEGAVERSE's choose_few_shot_examples drew them; None: maple's draw
    shot_draw: tuple[int, int] | None = None


@dataclass(frozen=True, eq=False)
class TaskSpec:
    """One evaluation task. The engine (build.py) holds nothing task-specific beyond this."""

    name: str
    kind: str
    data: DataRef
    query: Callable[[dict], str]  # one example as a prompt, without its answer
    target: Callable[[dict], str] | None  # the answer text shown in few-shot examples
    gold: Callable[[dict], Any]
    protocols: Mapping[str, ProtocolSpec]
    max_new_tokens: int
    stop: tuple[str, ...]
    languages: tuple[str, ...]  # the paper's languages (documentation; the config picks)
    choices: Callable[[dict], list[str]] | None = None
    label_field: str | None = None  # rows whose label is < 0 (hidden test labels) are dropped
    id_field: str | None = None  # None: ids are "{split}-{row index}"
    lang_data: Mapping[str, DataRef] = field(default_factory=dict)  # languages read from another dataset
    target_delimiter: str = " "  # between a query and its answer
    # the row field cut when even a zero-shot prompt exceeds the context (the evaluated passage or
    # article; never the question, options or answer cue); None: such a request fails
    truncatable: str | None = None
    fewshot_delimiter: str = "\n\n"  # between examples
    instruction: str = ""  # MEGAVERSE's task instruction: the system turn heading every prompt (chat_layout.py)
    label: str = ""  # display name in tables and figures ("" = name)
    headline: str = ""  # the metric Tables 1-2 report ("" = the first protocol's first metric)
    label_words: tuple[tuple[str, ...], ...] = ()  # text forms of each label index (multiple choice)
    # languages the scorer accepts beyond `languages`: a regex of the dataset's config codes
    # (Belebele's 122 FLORES-200 codes); None: `languages` only
    language_pattern: str | None = None
    gold_is_label_word: bool = False  # a text gold names a label by one of its label_words ("C", "3")

    @property
    def language_free(self) -> bool:
        """The score reads no language (a label compared, or a judge's preference)."""
        return self.kind in (MULTIPLE_CHOICE, INSTRUCTION)

    @property
    def judged(self) -> bool:
        """Scored from a judge's pairwise preferences (AlpacaEval), not against references."""
        return self.kind == INSTRUCTION

    @property
    def display_label(self) -> str:
        return self.label or self.name

    @property
    def headline_metric(self) -> str:
        return self.headline or next(iter(self.protocols.values())).metrics[0]

    def protocol(self, name: str) -> ProtocolSpec:
        try:
            return self.protocols[name]
        except KeyError:
            raise ValueError(
                f"task {self.name}: unknown protocol {name!r}; allowed: {', '.join(self.protocols)}"
            ) from None

    def data_for(self, lang: str) -> DataRef:
        return self.lang_data.get(lang, self.data)


@dataclass(frozen=True)
class Effective:
    """What one task x language x protocol generates with: the spec's values, the language's own
    splits, then the config's overrides. The one resolution the job params, the planner and
    request building all call, so editing a spec default reruns generation."""

    eval_split: str
    shot_split: str | None
    shots: int
    max_new_tokens: int
    eval_limit: int | None


def effective_settings(spec: TaskSpec, lang: str, protocol: str, task_cfg: dict | None) -> Effective:
    proto = spec.protocol(protocol)
    task_cfg = task_cfg or {}
    eval_split, shot_split = proto.lang_splits.get(lang, (proto.eval_split, proto.shot_split))
    return Effective(
        eval_split=task_cfg.get("split") or eval_split,
        shot_split=task_cfg.get("shot_split") or shot_split,
        shots=int(task_cfg.get("shots", proto.shots)),
        max_new_tokens=int(task_cfg.get("max_new_tokens", spec.max_new_tokens)),
        eval_limit=proto.eval_limit,
    )
