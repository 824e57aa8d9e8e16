"""Is a value a reading at all? Logger sentinels and physically impossible values are no data
for the plant rules (``out_of_range`` reports them), so a dead probe is not a cold pipe."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from pydantic import Field

from alerts.params import ParamsModel, RuleParams

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = ["OutOfRange", "Range", "plausibility", "plausible", "plausible_range", "sentinel_set"]


class Range(ParamsModel):
    min: float
    max: float


class OutOfRange(RuleParams):
    """``out_of_range``'s parameters (the rule: :mod:`alerts.rules.sensor`), here because
    every rule reads them: a value they reject is no data (:func:`plausible`)."""

    for_s: float = 60.0
    ranges: dict[str, Range] = Field(default_factory=lambda: {
        "supply_temp": Range(min=-20, max=120),
        "return_temp": Range(min=-20, max=120),
        "primary_supply_temp": Range(min=-20, max=150),
        "primary_return_temp": Range(min=-20, max=150),
        "outdoor_temp": Range(min=-50, max=50),
        "supply_pressure": Range(min=0, max=16),
        "return_pressure": Range(min=0, max=16),
        "flow": Range(min=0, max=5000),
        "makeup_flow": Range(min=0, max=100),
        "tank_level": Range(min=0, max=50),
    })
    sentinels: tuple[float, ...] = (-39.9, -127.0, 327.67, -327.68, 999.9)



def _limits(rules: RuleSet) -> OutOfRange:
    return cast(OutOfRange, rules.block("out_of_range"))


@lru_cache(maxsize=16)
def sentinel_set(values: tuple[float, ...]) -> frozenset[float]:
    """Sentinels rounded to 1e-3, so the per-reading test is one set lookup."""
    return frozenset(round(v, 3) for v in values)


def plausible(name: str, value: float, rules: RuleSet) -> bool:
    """False for a logger sentinel or a value outside ``out_of_range``'s range for ``name``:
    other rules treat such a value as no data, so a dead probe raises ``out_of_range`` and not
    an alert about the plant."""
    p = _limits(rules)
    if round(value, 3) in sentinel_set(p.sentinels):
        return False
    limits = p.ranges.get(name)
    return limits is None or limits.min <= value <= limits.max


def plausibility(name: str, rules: RuleSet) -> Callable[[float], bool]:
    """``plausible(name, value, rules)`` as a function of the value alone, for hot loops.

    Same answer for every float: in range, ``round(value, 3)`` is within 0.0006 of the value,
    so it can only be a sentinel if one lies within 0.001 of the range; when none does, the
    range test alone decides and the rounding is skipped.
    """
    p = _limits(rules)
    sentinels = sentinel_set(p.sentinels)
    limits = p.ranges.get(name)
    if limits is None:
        return lambda v: round(v, 3) not in sentinels
    lo, hi = limits.min, limits.max
    if any(lo - 0.001 <= s <= hi + 0.001 for s in sentinels):
        return lambda v: lo <= v <= hi and round(v, 3) not in sentinels
    return lambda v: lo <= v <= hi


def plausible_range(name: str, rules: RuleSet) -> tuple[float, float, bool]:
    """``(lo, hi, exact)`` for the hot loops of the pre-screens: with ``exact``, ``lo <= v <=
    hi`` is :func:`plausible` for every float (a range with no sentinel within 0.001 of it,
    see :func:`plausibility`), so no call is needed; otherwise ask :func:`plausibility`."""
    p = _limits(rules)
    limits = p.ranges.get(name)
    if limits is None:
        return -math.inf, math.inf, False
    lo, hi = limits.min, limits.max
    near = any(lo - 0.001 <= s <= hi + 0.001 for s in sentinel_set(p.sentinels))
    return lo, hi, not near
