"""Optional dependencies: a missing one is one line naming the package and its pinned extra."""

from __future__ import annotations

import importlib


class MissingDependency(ImportError):
    """An optional package this step needs is not installed."""


def require(module: str, package: str, extra: str):
    """Import `module`, or raise one line: which package to install (pinned in pyproject's `extra`)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if err.name is None or err.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: its own error is the useful one
        raise MissingDependency(
            f"missing optional dependency {package!r} (import {module}); install it with "
            f"pip install '{package}' or the pinned extra: pip install -e '.[{extra}]'"
        ) from None
