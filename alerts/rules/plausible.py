"""Is a value a reading at all? Logger sentinels and physically impossible values are no data
for the plant rules (``out_of_range`` reports them), so a dead probe is not a cold pipe."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from alerts.config import RuleSet

__all__ = ["plausibility", "plausible", "sentinel_set"]


@lru_cache(maxsize=16)
def sentinel_set(values: tuple[float, ...]) -> frozenset[float]:
    """Sentinels rounded to 1e-3, so the per-reading test is one set lookup."""
    return frozenset(round(v, 3) for v in values)


def plausible(name: str, value: float, rules: RuleSet) -> bool:
    """False for a logger sentinel or a value outside ``out_of_range``'s range for ``name``:
    other rules treat such a value as no data, so a dead probe raises ``out_of_range`` and not
    an alert about the plant."""
    p = rules.out_of_range
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
    p = rules.out_of_range
    sentinels = sentinel_set(p.sentinels)
    limits = p.ranges.get(name)
    if limits is None:
        return lambda v: round(v, 3) not in sentinels
    lo, hi = limits.min, limits.max
    if any(lo - 0.001 <= s <= hi + 0.001 for s in sentinels):
        return lambda v: lo <= v <= hi and round(v, 3) not in sentinels
    return lambda v: lo <= v <= hi
