"""Optional dependencies of the tools, imported when a tool runs, with a message that names
the extra to install when one is missing.

Why: the services' image carries only what the services import; matplotlib (backtest plots),
tqdm (progress bars of ``heatwatch import`` and ``rules backtest``) and grafana-client
(``dashboards push``) come with extras (pyproject.toml). A tool run without its extra must say
which one to install, not end in a ModuleNotFoundError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtra", "require"]


class MissingExtra(Exception):
    """A tool's optional dependency is not installed; the message says how to install it.
    ``heatwatch.cli.main`` prints it and exits 2."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``module`` imported, or :class:`MissingExtra` naming ``extra`` for ``feature``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        missing = exc.name or top
        also = "" if missing.split(".")[0] == top else f" (its dependency {missing} is missing)"
        raise MissingExtra(
            f"{feature} needs {top}{also}, from the '{extra}' extra: "
            f"pip install 'heatwatch[{extra}]'"
        ) from exc
