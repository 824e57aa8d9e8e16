"""Recent data per station and per zone, updated in O(1) per reading.

The engine must keep up with 20,000 stations and 400,000 flats on a fraction of a core, so
``observe`` does constant work per field: the latest value, when it last changed (stuck sensor),
and a bounded ring of samples only for the few fields whose *rate* a rule needs (pressure, tank
level). Everything heavier (rates, medians) is computed at evaluation time and only for the
stations or zones that changed.

Memory matters as much (one window per station, one float per flat): the rate rings are two
``array('d')`` (times, values; 16 bytes a sample instead of a 104-byte tuple of two floats),
and a zone keeps its flats per station (station -> meter -> temperature), so a flat costs its
meter id and one float, not a (station, meter) tuple of its own.

Whether the station is delivering heat is also tracked here, per reading, because rules need
its history (since when idle, when it resumed) and a rule only sees the present: heat power at
or above ``delivering_kw`` where the reading has it, else a secondary supply-return difference
of at least ``delivering_dt_k``. Two comparisons per reading. The primary pair is no evidence:
on real stations the primary supply probe stays hot for hours after the valve closes.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from heatwatch.wire import FieldValue

__all__ = ["FieldState", "Ring", "StationWindow", "ZoneAggregate"]


def _float(value: FieldValue | None) -> float | None:
    """A number as float (bools and strings are not numbers here), else None."""
    if value.__class__ is float:
        return value
    if value is None or isinstance(value, bool | str):
        return None
    return float(value)


@dataclass(slots=True)
class FieldState:
    """The latest value of one field plus how long it has been unchanged."""

    value: FieldValue
    ts: float
    changed_at: float
    same_count: int = 1


class Ring:
    """The newest ``maxlen`` samples of one field (times strictly increasing), as two arrays.

    Behaves like ``deque(maxlen=maxlen)`` of ``(ts, value)`` pairs: only the last ``maxlen``
    samples are visible (:meth:`span`). The arrays are trimmed in bulk once they run
    ``maxlen // 4`` past that, so an append is amortised O(1) and bisecting the times needs no
    key function.
    """

    __slots__ = ("maxlen", "times", "top", "values")

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.times = array("d")
        self.values = array("d")
        self.top = -math.inf  # >= every value held (visible or not yet trimmed); NaN-blind

    def __len__(self) -> int:
        return min(len(self.times), self.maxlen)

    def add(self, ts: float, value: float) -> None:
        """Append a sample newer than the newest one; an older or equal time is ignored."""
        times = self.times
        n = len(times)
        if n and ts <= times[-1]:
            return
        times.append(ts)
        self.values.append(value)
        if value > self.top:
            self.top = value
        if n >= self.maxlen + (self.maxlen >> 2):
            drop = n + 1 - self.maxlen
            del times[:drop]
            del self.values[:drop]
            self.top = max(self.values)

    def span(self) -> tuple[int, int]:
        """``(lo, n)``: the visible samples are ``times[lo:n]`` / ``values[lo:n]``."""
        n = len(self.times)
        return (n - self.maxlen if n > self.maxlen else 0), n

    def samples(self) -> list[tuple[float, float]]:
        """The visible samples as ``(ts, value)`` pairs, oldest first (tests, debugging)."""
        lo, n = self.span()
        return list(zip(self.times[lo:n], self.values[lo:n], strict=True))


@dataclass(slots=True)
class StationWindow:
    """What the engine knows about one station's recent readings."""

    station: str
    zone: str
    report_interval_s: float = 10.0
    design_flow: float | None = None
    history_fields: frozenset[str] = frozenset()
    history_len: int = 120
    keep: frozenset[str] | None = None  # fields to keep (the ones rules read); None: all
    last_ts: float | None = None  # newest reading time (the station's clock)
    seen_at: float | None = None  # when the newest reading *arrived* (liveness)
    status_offline: bool = False
    status_ts: float | None = None
    fields: dict[str, FieldState] = field(default_factory=dict)
    history: dict[str, Ring] = field(default_factory=dict)
    # delivering heat (see the module docstring); field names and thresholds from the rules
    power_field: str = "heat_power"
    supply_field: str = "supply_temp"
    return_field: str = "return_temp"
    delivering_kw: float = 30.0
    delivering_dt_k: float = 3.0
    delivering: bool | None = None  # None: no evidence yet
    delivering_since: float | None = None  # start of the current delivering run
    delivered_at: float | None = None  # the newest reading that was delivering heat
    idle_since: float | None = None  # start of the current idle run
    resumed_at: float | None = None  # the last restart: delivering after switch_off_min_s idle
    switch_off_min_s: float = 1800.0
    supply_peak: float = -math.inf  # highest supply delivered since that restart (warm-up)
    setpoint_field: str = "supply_setpoint"
    setpoint_step_k: float = 5.0
    last_setpoint: float = math.nan
    outdoor_field: str = "outdoor_temp"
    outdoor_avg_s: float = 43200.0
    outdoor_avg: float | None = None  # exponential mean over outdoor_avg_s
    outdoor_ts: float = -math.inf

    def observe(
        self, ts: float, values: dict[str, FieldValue], seen_at: float | None = None
    ) -> None:
        """Fold one telemetry reading in; a reading also proves the station is back online.

        ``seen_at`` is the arrival time (live service) and drives liveness, so a station whose
        clock runs ten minutes slow is not "offline"; in replay it defaults to ``ts``.
        """
        arrived = ts if seen_at is None else seen_at
        last = self.last_ts
        if last is None or ts >= last:
            self.last_ts = ts
            self._regime(ts, values)
        seen = self.seen_at
        if seen is None or arrived >= seen:
            self.seen_at = arrived
        if self.status_offline and (self.status_ts is None or arrived >= self.status_ts):
            self.status_offline = False
        fields = self.fields
        get = fields.get
        keep = self.keep
        for name, value in values.items():
            if keep is not None and name not in keep:
                continue  # no rule reads it: neither the time nor the memory
            state = get(name)
            if state is None:
                fields[name] = FieldState(value, ts, ts)
            elif ts >= state.ts:
                if value == state.value:
                    state.same_count += 1
                else:
                    state.value = value
                    state.changed_at = ts
                    state.same_count = 1
                state.ts = ts
        for name in self.history_fields:  # the two rate fields, not every field of the reading
            sample = values.get(name)
            if isinstance(sample, int | float):
                ring = self.history.get(name)
                if ring is None:
                    ring = self.history[name] = Ring(self.history_len)
                ring.add(ts, float(sample))

    def _regime(self, ts: float, values: dict[str, FieldValue]) -> None:
        """Update delivering / idle (no evidence: no change), the supply peak since the last
        restart and the outdoor mean from one in-order reading. Written for the hot path: a
        float check by class, no ``isinstance`` on the common path."""
        outdoor = values.get(self.outdoor_field)
        if outdoor.__class__ is float and outdoor - outdoor == 0.0:
            avg = self.outdoor_avg
            if avg is None:
                self.outdoor_avg = outdoor
            else:  # weight dt / (dt + tau): an exponential mean's first order, no exp()
                dt = ts - self.outdoor_ts
                self.outdoor_avg = avg + dt / (dt + self.outdoor_avg_s) * (outdoor - avg)
            self.outdoor_ts = ts
        setpoint = values.get(self.setpoint_field)
        if setpoint.__class__ is float:
            if setpoint - self.last_setpoint > self.setpoint_step_k:
                self.resumed_at = ts  # the controller stepped its target up: a warm-up
                self.supply_peak = -math.inf
            self.last_setpoint = setpoint
        sup = values.get(self.supply_field)
        if sup.__class__ is not float:
            sup = _float(sup)
        power = values.get(self.power_field)
        if power.__class__ is not float:
            power = _float(power)
        if power is not None:
            if power != power:  # NaN: no evidence
                return
            on = power >= self.delivering_kw
        else:
            ret = values.get(self.return_field)
            if ret.__class__ is not float:
                ret = _float(ret)
            if sup is None or ret is None:
                return
            diff = sup - ret
            if not diff > -self.delivering_dt_k:  # NaN, or return far above supply: a dead
                return  # probe or a sentinel (-39.9) says nothing about the heating
            on = diff >= self.delivering_dt_k
        was = self.delivering
        if on is not was:
            self.delivering = on
            if on:
                idle = self.idle_since
                self.delivering_since, self.idle_since = ts, None
                # a restart (and its warm-up) only after a real switch-off: a fault that dips
                # the heat power for minutes must not buy itself a warm-up's silence
                if was is False and idle is not None and ts - idle >= self.switch_off_min_s:
                    self.resumed_at = ts
                    self.supply_peak = -math.inf
            else:
                self.idle_since, self.delivering_since = ts, None
        if on:
            self.delivered_at = ts
        if on and sup is not None and sup > self.supply_peak:
            self.supply_peak = sup

    def set_status(self, online: bool, ts: float) -> None:
        """Record the retained status / last will; an older status never overrides data."""
        if self.status_ts is not None and ts < self.status_ts:
            return
        self.status_ts = ts
        if online:
            self.status_offline = False
        elif self.seen_at is None or ts >= self.seen_at:
            self.status_offline = True

    def number(self, name: str) -> float | None:
        """Latest numeric value of a field (bools are not numbers here), or None."""
        state = self.fields.get(name)
        if state is None or isinstance(state.value, bool | str):
            return None
        value = float(state.value)
        return value if math.isfinite(value) else None

    def flag(self, name: str) -> bool | None:
        state = self.fields.get(name)
        if state is None:
            return None
        if isinstance(state.value, bool):
            return state.value
        if isinstance(state.value, int | float):
            return state.value != 0
        return state.value.lower() in ("true", "on", "1", "yes")

    def fall_rate_per_min(
        self, name: str, window_s: float, now: float,
        valid: Callable[[float], bool] | None = None,
    ) -> float | None:
        """How fast a field fell over the window (units per minute; negative = rising).

        Needs samples spanning at least half the window, so one noisy pair right after a
        restart cannot trigger a leak alert. With ``valid``, the end points are the oldest and
        newest samples it accepts: a logger sentinel ending is not a fall.
        """
        ring = self.history.get(name)
        if ring is None:
            return None
        lo, n = ring.span()
        if n - lo < 2:
            return None
        times, vals = ring.times, ring.values
        i = bisect.bisect_left(times, now - window_s, lo, n)
        j = n - 1
        if valid is not None:
            while i < j and not valid(vals[i]):
                i += 1
            while j > i and not valid(vals[j]):
                j -= 1
        if i >= j:
            return None
        t0, t1 = times[i], times[j]
        if t1 - t0 < window_s / 2:
            return None
        return (vals[i] - vals[j]) / (t1 - t0) * 60.0


@dataclass(slots=True)
class ZoneAggregate:
    """Latest indoor temperature per flat of a zone, with below-threshold counts kept live.

    Counts are maintained on every update so the "is the share above the threshold" test is
    O(1); min and median (a sort) are only computed when an alert needs them for its text.
    Temperatures are kept per station, then per meter: no (station, meter) key per flat.
    """

    zone: str
    standard_c: float
    critical_c: float
    valid_min: float = 0.0
    valid_max: float = 40.0
    temps: dict[str, dict[str, float]] = field(default_factory=dict)  # station -> meter -> °C
    below_standard: int = 0
    below_critical: int = 0
    flats: int = 0

    def observe(self, station: str, meter: str, temp: float) -> None:
        """Replace one flat's temperature; implausible values (sentinels) drop the flat."""
        per = self.temps.get(station)
        old = None if per is None else per.get(meter)
        if old is not None:
            if old < self.standard_c:
                self.below_standard -= 1
            if old < self.critical_c:
                self.below_critical -= 1
        if math.isfinite(temp) and self.valid_min <= temp <= self.valid_max:
            if per is None:
                per = self.temps[station] = {}
            per[meter] = temp  # an existing meter keeps its key: nothing new per reading
            if old is None:
                self.flats += 1
            if temp < self.standard_c:
                self.below_standard += 1
            if temp < self.critical_c:
                self.below_critical += 1
        elif old is not None and per is not None:
            del per[meter]
            self.flats -= 1
            if not per:
                del self.temps[station]

    def values(self) -> Iterator[float]:
        """Every flat's current temperature."""
        for per in self.temps.values():
            yield from per.values()

    def set_thresholds(self, standard_c: float, critical_c: float) -> None:
        """Change the band limits (night setback, reconfiguration): one O(flats) recount, a
        couple of times a day, keeps every other update O(1)."""
        if (standard_c, critical_c) == (self.standard_c, self.critical_c):
            return
        self.standard_c, self.critical_c = standard_c, critical_c
        self.below_standard = sum(1 for t in self.values() if t < standard_c)
        self.below_critical = sum(1 for t in self.values() if t < critical_c)

    def stats(self) -> tuple[float, float]:
        """(min, median) of the current temperatures; callers ensure there is at least one."""
        ordered = sorted(self.values())
        n = len(ordered)
        mid = n // 2
        median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        return ordered[0], median
