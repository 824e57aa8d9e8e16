"""Sensor-fault rules: ``stuck_sensor``, ``out_of_range``, ``return_above_supply``.

These say "do not trust this station's numbers" rather than "the heating failed"; they exist
so that a broken probe is fixed before it hides (or fakes) a real under-temperature alert.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from alerts.config import FieldNames, RuleParams, RuleSet
from alerts.model import Signal, Verdict
from alerts.rules.base import StationRule
from alerts.window import StationWindow

__all__ = [
    "OutOfRangeRule", "ReturnAboveSupplyRule", "StuckSensorRule", "plausibility", "plausible",
    "sentinel_set",
]


class StuckSensorRule(StationRule):
    """A field that keeps arriving with exactly the same value for hours.

    Measured between sample timestamps (not against ``now``), so a station that simply went
    silent is offline, not stuck.
    """

    name = "stuck_sensor"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.stuck_sensor

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.stuck_sensor
        stuck = []
        for name in p.fields:
            state = window.fields.get(name)
            if state is None or isinstance(state.value, bool | str):
                continue
            if state.same_count >= p.min_samples and state.ts - state.changed_at >= p.stuck_after_s:
                stuck.append(name)
        if not stuck:
            return Verdict.clear()
        return Verdict(
            Signal.FIRE,
            summary=f"stuck sensor(s) at {window.station}: {', '.join(stuck)}",
            annotations=(("fields", ",".join(stuck)),),
        )


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


class OutOfRangeRule(StationRule):
    """Physically impossible values and the sentinels some loggers send for a dead probe."""

    name = "out_of_range"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.out_of_range

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p = rules.out_of_range
        sentinels = sentinel_set(p.sentinels)
        bad = []
        for name, limits in p.ranges.items():
            value = window.number(name)
            if value is None:
                continue
            if round(value, 3) in sentinels or not limits.min <= value <= limits.max:
                bad.append(f"{name}={value:g}")
        if not bad:
            return Verdict.clear()
        return Verdict(
            Signal.FIRE,
            summary=f"implausible values at {window.station}: {', '.join(bad)}",
            annotations=(("fields", ",".join(bad)),),
        )


class ReturnAboveSupplyRule(StationRule):
    """Return hotter than supply: swapped probes or a probe not in the pipe it claims."""

    name = "return_above_supply"
    family = "sensor"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.return_above_supply

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        margin = rules.return_above_supply.margin_k
        seen = False
        for sup_name, ret_name in (
            (names.primary_supply_temp, names.primary_return_temp),
            (names.supply_temp, names.return_temp),
        ):
            sup, ret = window.number(sup_name), window.number(ret_name)
            if sup is None or ret is None:
                continue
            seen = True
            if ret > sup + margin:
                return Verdict(
                    Signal.FIRE,
                    value=ret - sup,
                    summary=(
                        f"{ret_name} {ret:.1f} °C above {sup_name} {sup:.1f} °C "
                        f"at {window.station}"
                    ),
                )
        return Verdict.clear() if seen else Verdict.hold()
