"""The shipped rules: every module of this package that ends with ``RULES`` (a tuple of
:class:`~alerts.rules.spec.RuleSpec`) contributes its rules, so a new rule is a new module
here (plus its messages and tests) and nothing else.

Station rules (with a ``verdict``) run per station with new data; ``station_offline``
(time-driven), ``zone_cold`` (per zone) and ``pipeline_down`` (global) are driven by the engine
directly because their input is not one station's window, and are declared all the same.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from alerts.rules.spec import RuleSpec

__all__ = ["BY_NAME", "FAMILIES", "RULES", "STATION_RULES", "RuleSpec"]


def _collect() -> tuple[RuleSpec[Any], ...]:
    found: list[RuleSpec[Any]] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "RULES", ()))
    names = [spec.name for spec in found]
    if dup := {n for n in names if names.count(n) > 1}:
        raise RuntimeError(f"rules declared twice: {', '.join(sorted(dup))}")
    return tuple(sorted(found, key=lambda spec: (spec.order, spec.name)))


RULES: tuple[RuleSpec[Any], ...] = _collect()
"""Every declared rule, in ``order``."""

BY_NAME: dict[str, RuleSpec[Any]] = {spec.name: spec for spec in RULES}

STATION_RULES: tuple[RuleSpec[Any], ...] = tuple(s for s in RULES if s.verdict is not None)
"""The rules evaluated per station, in the engine's order."""

FAMILIES: dict[str, str] = {spec.name: spec.family for spec in RULES}
