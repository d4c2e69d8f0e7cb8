"""The two errors scoring raises on purpose; anything else is a bug."""

from __future__ import annotations


class ScoringInputError(ValueError):
    """Records that cannot be scored: none at all, a malformed record, an unknown task or language.

    `record` is the 0-based position of the offending record, when one is to blame (the command
    line turns it into a line number)."""

    def __init__(self, message: str, record: int | None = None):
        super().__init__(message)
        self.record = record


class MetricUnavailableError(RuntimeError):
    """A metric that needs a resource this installation lacks (e.g. NLTK stopwords, a MeCab dictionary)."""
