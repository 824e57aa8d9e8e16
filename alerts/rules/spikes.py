"""``sensor_spikes``: a field that jumps by more than it plausibly can and straight back,
again and again.

A loose connector or an interfering cable makes a probe read, for one sample, a value its pipe
cannot have reached in that time, and the next sample is back where it was. One such sample is
noise; several within ``window_s`` are a probe to fix before its spikes trip (or hide) a plant
alert. A spike is a sample ``b`` between its neighbours ``a`` and ``c`` with both
``|b - a| / (tb - ta)`` and ``|b - c| / (tc - tb)`` above the field's plausible rate, in opposite
directions (up and back down, or down and back up): a step that stays (a restart, a setpoint
change) is not one. Samples that are no data (a sentinel, a value outside ``out_of_range``'s
range) are left to ``out_of_range``.

Judged on the recent samples the engine keeps per station (``history_len`` of each listed
field, so with a fast reporter the window is at most that many samples long). Disabled by
default: a sample ring per listed field and station costs memory and time at city scale, so a
zone or station with suspect probes turns it on (``sensor_spikes: {enabled: true}``).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from alerts.model import Signal, Verdict
from alerts.params import FieldNames, RuleParams
from alerts.rules.base import band
from alerts.rules.plausible import plausibility
from alerts.rules.spec import Prescreen, RuleSpec, ScreenContext
from alerts.window import Ring, StationWindow

if TYPE_CHECKING:
    from collections.abc import Callable

    from alerts.config import RuleSet

__all__ = ["RULES", "SENSOR_SPIKES", "SensorSpikes", "count_spikes"]


class SensorSpikes(RuleParams):
    enabled: bool = False
    fields: tuple[str, ...] = Field(
        default=("supply_temp", "return_temp", "primary_supply_temp", "primary_return_temp"),
        description="wire fields watched (a sample ring each per station)")
    max_rate_per_min: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="per field: the fastest plausible change, per min")
    default_max_rate_per_min: float = Field(
        default=5.0, gt=0, description="the same for a field not in max_rate_per_min")
    min_spikes: int = Field(default=3, ge=1, description="spikes of one field in the window")
    window_s: float = Field(default=3600.0, gt=0, description="counted over this long")


def count_spikes(ring: Ring | None, since: float, rate_per_min: float,
                 valid: Callable[[float], bool], enough: int) -> int:
    """Spikes (see the module) whose middle sample is at or after ``since``, counting up to
    ``enough`` (the answer is then ``enough``: the caller only needs to know that many)."""
    if ring is None:
        return 0
    lo, n = ring.span()
    times, values = ring.times, ring.values
    rate = rate_per_min / 60.0
    found = 0
    for k in range(max(lo + 1, bisect.bisect_left(times, since, lo, n)), n - 1):
        tb, b = times[k], values[k]
        ta, a = times[k - 1], values[k - 1]
        tc, c = times[k + 1], values[k + 1]
        up = b - a > rate * (tb - ta) and b - c > rate * (tc - tb)
        down = a - b > rate * (tb - ta) and c - b > rate * (tc - tb)
        if (up or down) and valid(a) and valid(b) and valid(c):
            found += 1
            if found >= enough:
                break
    return found


def _spiking(window: StationWindow, now: float, p: SensorSpikes,
             valid: dict[str, Callable[[float], bool]], enough: int) -> list[tuple[str, int]]:
    """(field, spikes in the window) for every watched field with at least one."""
    since = now - p.window_s
    out = []
    for name in p.fields:
        rate = p.max_rate_per_min.get(name, p.default_max_rate_per_min)
        found = count_spikes(window.history.get(name), since, rate, valid[name], enough)
        if found:
            out.append((name, found))
    return out


def sensor_spikes(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """FIRE while a watched field has ``min_spikes`` spikes in the window, CLEAR once no field
    has any (HOLD between: an open alert stays open while spikes linger in the window)."""
    p = SENSOR_SPIKES.params(rules)
    valid = {name: plausibility(name, rules) for name in p.fields}
    found = _spiking(window, now, p, valid, 1 << 30)
    worst = max((n for _, n in found), default=0)
    signal = band(worst >= p.min_spikes, worst == 0)
    if signal is not Signal.FIRE:
        return Verdict(signal)
    bad = [f"{name}={n}" for name, n in found if n >= p.min_spikes]
    return Verdict(
        Signal.FIRE,
        value=float(worst),
        summary=(f"spiking sensor(s) at {window.station}: {', '.join(bad)} in "
                 f"{p.window_s / 60:.0f} min"),
        annotations=(("fields", ",".join(bad)), ("window_min", f"{p.window_s / 60:.0f}")),
    )


def sensor_spikes_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = SENSOR_SPIKES.params(rules)
    valid = {name: plausibility(name, rules) for name in p.fields}
    enough = p.min_spikes

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        if not window.history:
            return False
        return any(n >= enough for _, n in _spiking(window, now, p, valid, enough))

    return check


def _watched(rules: RuleSet) -> tuple[str, ...]:
    p = SENSOR_SPIKES.params(rules)
    return p.fields if p.enabled else ()


def _lookback(rules: RuleSet) -> float | None:
    p = SENSOR_SPIKES.params(rules)
    return p.window_s if p.enabled else None


SENSOR_SPIKES = RuleSpec(
    name="sensor_spikes", family="sensor", model=SensorSpikes,
    verdict=sensor_spikes, screen=sensor_spikes_screen,
    rates=lambda rules, names: _watched(rules), lookback=_lookback,
)
RULES: tuple[RuleSpec[Any], ...] = (SENSOR_SPIKES,)
