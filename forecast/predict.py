"""Every flat's indoor temperature over the next hours, and the supply change that keeps it warm.

Each forecast cycle the predictor builds the stations' *planned* inputs over the horizon from
what the alert rules already know about them (:mod:`alerts.schedule` and
:func:`alerts.rules.regime.curve_reference`, resolved per station from the rules file):

* heating on unless outside the season or inside a planned off window (``heating.off_windows``);
* supply on the station's calibrated curve (else the zone's curve) at the *forecast* outdoor
  temperature, lowered by ``setback_k`` during the setback, plus the station's own offset from
  that reference as measured over the last day (a controller that reports its own setpoint,
  or runs a shifted curve, keeps doing what it did);

then runs every flat's fitted model (:mod:`forecast.thermal`) from its latest temperature. A
planned change is tried by re-running the prediction for that station's flats only
(:func:`smallest_change`), so the alert can say what would prevent the cold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import erf

from alerts.config import RuleSet
from alerts.rules.regime import curve_reference
from alerts.rules.temperature import ZONE_COLD
from alerts.schedule import heating_on, in_setback, planned_off
from forecast.thermal import Models, advance

__all__ = [
    "Change",
    "Plan",
    "Prediction",
    "StationNow",
    "learn_run_through",
    "plan_stations",
    "predict",
    "smallest_change",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

OutdoorAt = Callable[[str, float], float | None]  # (zone, epoch s) -> forecast °C or None


@dataclass(frozen=True, slots=True)
class StationNow:
    """What the predictor needs to know about a station now."""

    station: str
    zone: str
    rules: RuleSet  # effective (zone/station resolved)
    supply_offset_k: float = 0.0  # measured supply minus its curve reference, last day
    outdoor_now: float | None = None  # its latest outdoor reading (when the forecast has none)
    # nights that begin colder than this run through its planned off window (learned by
    # learn_run_through from its own history); None: it switches off whatever the weather
    run_through_below_c: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A change to one station's plan: supply ``raise_k`` higher from ``from_t`` on, and/or
    heating kept on through its planned off windows."""

    raise_k: float = 0.0
    from_t: float = -math.inf
    keep_on: bool = False
    already_off: bool = False  # keep_on of a station that is off now: switch it back on

    def describe(self, station: str, when: Callable[[float], str]) -> str:
        parts = []
        if self.keep_on:
            parts.append(f"switch {station} back on now" if self.already_off
                         else f"do not switch off {station} at {when(self.from_t)}")
        if self.raise_k > 0:
            parts.append(f"raise supply at {station} by {self.raise_k:g} K from "
                         f"{when(self.from_t)}")
        return " and ".join(parts) or "no change"

    def describe_zh(self, station: str, when: Callable[[float], str]) -> str:
        """The same in Chinese (the zh message templates)."""
        parts = []
        if self.keep_on:
            parts.append(f"{station} 立即恢复供热" if self.already_off
                         else f"{station} 不要在 {when(self.from_t)} 停止供热")
        if self.raise_k > 0:
            parts.append(f"{station} 供水温度从 {when(self.from_t)} 起提高 {self.raise_k:g} K")
        return "，并且".join(parts) or "无需调整"


@dataclass(slots=True)
class Plan:
    """Planned inputs of every station over the horizon (rows: stations, columns: steps)."""

    times: F64  # start of each step (epoch s)
    step_s: float
    supply: F64  # planned secondary supply (°C), whether on or not
    on: F64  # 1.0 heating on, 0.0 planned off
    outdoor: F64
    standard: F64  # indoor standard in force at the step's end (°C)
    forecast_missing: B  # per station: no weather forecast covered the horizon
    off_start: F64  # per station: when its planned off window starts in the horizon (nan)

    def heat(self) -> F64:
        out: F64 = self.on * self.supply
        return out


def plan_stations(stations: Sequence[StationNow], now: float, outdoor_at: OutdoorAt,
                  horizon_s: float = 12 * 3600.0, step_s: float = 900.0) -> Plan:
    """The planned inputs of ``stations`` from ``now`` over ``horizon_s``.

    Schedules are evaluated once per distinct rule set and step (stations without overrides
    share one), the forecast once per zone and step: 20,000 stations cost a few hundred
    schedule look-ups, not a million.
    """
    steps = max(1, math.ceil(horizon_s / step_s))
    times = now + step_s * np.arange(steps, dtype=np.float64)
    mids = times + step_s / 2
    ends = times + step_s
    n = len(stations)
    supply = np.zeros((n, steps))
    on = np.zeros((n, steps))
    outdoor = np.zeros((n, steps))
    standard = np.zeros((n, steps))
    missing = np.zeros(n, dtype=bool)
    zone_cache: dict[str, list[float | None]] = {}
    rule_cache: dict[int, tuple[list[float], list[float], float]] = {}
    off_start = np.full(n, np.nan)
    curve_cache: dict[tuple[int, str, float | None], list[float]] = {}
    for i, st in enumerate(stations):
        fc = zone_cache.get(st.zone)
        if fc is None:
            fc = zone_cache[st.zone] = [outdoor_at(st.zone, float(t)) for t in mids]
        missing[i] = any(v is None for v in fc)
        fallback = st.outdoor_now if st.outdoor_now is not None else 0.0
        out = [fallback if v is None else v for v in fc]
        outdoor[i] = out
        rs = st.rules
        sched = rule_cache.get(id(rs))
        if sched is None:
            h = rs.heating
            zc = ZONE_COLD.params(rs)
            onv = [1.0 if heating_on(float(t), h) and not planned_off(float(t), h) else 0.0
                   for t in mids]
            std = [zc.night_standard_c if zc.night_standard_c is not None
                   and in_setback(float(t), h) else zc.standard_c for t in ends]
            sched = rule_cache[id(rs)] = (onv, std, _switch_off(mids, onv, rs))
        on[i], standard[i], off_start[i] = sched
        # curve_reference applies the setback itself; evaluated at each step's middle, once
        # per rule set and zone (and fallback outdoor, when the forecast has gaps)
        key = (id(rs), st.zone, st.outdoor_now if missing[i] else None)
        ref = curve_cache.get(key)
        if ref is None:
            ref = curve_cache[key] = [curve_reference(float(t), o, rs)[0]
                                      for t, o in zip(mids, out, strict=True)]
        supply[i] = np.asarray(ref) + st.supply_offset_k
        if st.run_through_below_c is not None:
            on[i] = _run_through(on[i], outdoor[i], st.run_through_below_c)
    return Plan(times=times, step_s=step_s, supply=supply, on=on, outdoor=outdoor,
                standard=standard, forecast_missing=missing, off_start=off_start)


def _switch_off(mids: F64, onv: list[float], rs: RuleSet) -> float:
    """The instant (to the minute) the first planned switch-off within the steps happens:
    between the middles of the last step on and the first step off; nan: none."""
    for k in range(1, len(onv)):
        if onv[k - 1] > 0.5 and onv[k] < 0.5:
            lo, hi = float(mids[k - 1]), float(mids[k])
            while hi - lo > 60.0:
                mid = (lo + hi) / 2
                if planned_off(mid, rs.heating) or not heating_on(mid, rs.heating):
                    hi = mid
                else:
                    lo = mid
            return math.floor(hi / 60.0) * 60.0  # windows start on a minute: hi is in it
    return math.nan


def _run_through(on: F64, outdoor: F64, below_c: float) -> F64:
    """``on`` with every planned-off run that starts colder than ``below_c`` kept on."""
    out = on.copy()
    k = 0
    while k < on.size:
        if on[k] < 0.5:
            end = k
            while end < on.size and on[end] < 0.5:
                end += 1
            if outdoor[k] < below_c:
                out[k:end] = 1.0
            k = end
        else:
            k += 1
    return out


def learn_run_through(times: F64, on: F64, outdoor: F64, rules: RuleSet) -> float | None:
    """The outdoor temperature under which a station runs through its planned off windows,
    from its own history (``on``: share of each step delivering heat, on the grid
    ``times``): real controllers keep heating on their coldest nights (docs/simulators.md).

    For every planned off window seen whole in the heating season, the outdoor temperature
    just before it starts and whether the station delivered heat through most of it. None
    when it never ran through one (or no window was seen); else the threshold that separates
    the nights it ran through (colder) from those it switched off (warmer) with the fewest
    exceptions, midway between the two nights around it: a sensor's odd reading or a manual
    run-through on a mild night costs one exception, not the threshold.
    """
    h = rules.heating
    if not h.off_windows:
        return None
    planned = np.array([planned_off(float(t), h) and heating_on(float(t), h) for t in times],
                       dtype=bool)
    nights: list[tuple[float, bool]] = []  # (outdoor before the window, ran through)
    k = 0
    n = times.size
    while k < n:
        if not planned[k]:
            k += 1
            continue
        end = k
        while end < n and planned[end]:
            end += 1
        seen = np.isfinite(on[k:end])
        if k > 0 and end < n and seen.mean() > 0.8 and np.isfinite(outdoor[k - 1]):
            nights.append((float(outdoor[k - 1]), float(np.nanmean(on[k:end])) > 0.5))
        k = end
    if not any(ran for _, ran in nights):
        return None
    nights.sort()
    temps = [o for o, _ in nights]
    # errors of "run through below the i-th night": off nights below + ran nights at/above
    off_below = np.cumsum([0] + [0 if ran else 1 for _, ran in nights])
    ran_above = np.cumsum([0] + [1 if ran else 0 for _, ran in nights[::-1]])[::-1]
    errors = off_below + ran_above
    i = int(np.argmin(errors))  # the first of the best (the coldest threshold on ties)
    if i == 0:
        return None  # it switches off on its coldest nights too
    if i == len(nights):
        return temps[-1] + 1.0  # it ran through on every night seen
    return (temps[i - 1] + temps[i]) / 2.0


def apply_change(plan: Plan, row: int, change: Change) -> tuple[F64, F64]:
    """(supply, on) of station ``row`` under ``change``."""
    supply = plan.supply[row].copy()
    on = plan.on[row].copy()
    after = plan.times + plan.step_s / 2 >= change.from_t  # steps judged at their middle
    if change.keep_on:
        on = np.where(after, 1.0, on)
    supply = np.where(after, supply + change.raise_k, supply)
    return supply, on


@dataclass(slots=True)
class Prediction:
    """Predicted temperatures of the fitted flats (rows of ``models``) at each step's end."""

    models: Models
    station_row: I64  # each flat's row in the plan
    temps: F64  # (flats, steps)
    plan: Plan
    start: F64  # each flat's temperature at ``plan.times[0]``

    @property
    def ends(self) -> F64:
        out: F64 = self.plan.times + self.plan.step_s
        return out

    def below(self) -> B:
        """(flats, steps): predicted under the standard in force."""
        out: B = self.temps < self.plan.standard[self.station_row]
        return out

    def first_below(self, min_s: float = 0.0) -> F64:
        """Per flat, the first step end predicted under the standard (NaN: none), counting
        only runs under it that last ``min_s`` or more or go on to the end of the horizon
        (a dip of a few minutes on the line is not the cold the alert is about)."""
        below = self.below()
        need = max(1, math.ceil(min_s / self.plan.step_s))
        steps = below.shape[1]
        # length of the run under the standard starting at each step (0 where above)
        run = np.zeros(below.shape, dtype=np.int64)
        run[:, -1] = below[:, -1]
        for k in range(steps - 2, -1, -1):
            run[:, k] = np.where(below[:, k], run[:, k + 1] + 1, 0)
        to_end = run + np.arange(steps)[None, :] >= steps
        long = below & ((run >= need) | to_end)
        any_ = long.any(1)
        first = np.argmax(long, 1)
        out: F64 = np.where(any_, self.ends[first], np.nan)
        return out

    def p_below(self) -> F64:
        """Per flat, how sure the cold is: the chance that the coldest predicted point is
        really under the standard, with the fit's error at that lead as a normal spread."""
        gap = self.temps - self.plan.standard[self.station_row]
        worst = np.argmin(gap, 1)
        rows = np.arange(gap.shape[0])
        lead = self.ends[worst] - self.plan.times[0]
        sigma = np.maximum(self.models.error_at(lead), 0.05)
        z = -gap[rows, worst] / sigma
        out: F64 = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
        return out


def _erf(x: F64) -> F64:
    """numpy has no erf; scipy's is vectorised and exact."""
    out: F64 = np.asarray(erf(x), dtype=np.float64)
    return out


def predict(models: Models, station_row: I64, start: F64, plan: Plan) -> Prediction:
    """Run every flat forward over the plan from its temperature ``start`` (NaN: unknown,
    predicted NaN). ``station_row``: each model's station row in ``plan``."""
    heat = plan.heat()
    hours = plan.step_s / 3600.0
    temps = np.empty((len(models), plan.times.size))
    temp = start.astype(np.float64)
    for k in range(plan.times.size):
        temp = advance(temp, heat[station_row, k], plan.on[station_row, k],
                       plan.outdoor[station_row, k], models.a, models.b, models.c, hours)
        temps[:, k] = temp
    return Prediction(models=models, station_row=station_row, temps=temps, plan=plan,
                      start=start)


def _rerun(pred: Prediction, flats: I64, supply: F64, on: F64) -> F64:
    """Temperatures of ``flats`` (all of one station) under that station's changed plan."""
    m = pred.models
    a, b, c = m.a[flats], m.b[flats], m.c[flats]
    row = pred.station_row[flats[0]]
    hours = pred.plan.step_s / 3600.0
    temp = pred.start[flats]
    out = np.empty((flats.size, supply.size))
    for k in range(supply.size):
        temp = advance(temp, on[k] * supply[k], on[k], pred.plan.outdoor[row, k], a, b, c,
                       hours)
        out[:, k] = temp
    return out


def smallest_change(pred: Prediction, flats: I64, max_raise_k: float = 20.0,
                    raise_step_k: float = 2.0, margin_k: float = 0.0) -> Change | None:
    """The smallest change to the plan of the station of ``flats`` that keeps every one of
    them at or above the standard (plus ``margin_k``) over the whole horizon, found by
    re-running the prediction; None when nothing within ``max_raise_k`` does.

    In order: keeping the heating on through a planned off window (from the window's start:
    "do not switch off at 22:00"), alone, then with the smallest raise; else the smallest
    supply raise, started as late as it still works ("raise by 4 K from 02:00").
    """
    plan = pred.plan
    row = int(pred.station_row[flats[0]])
    std = plan.standard[row] + margin_k

    def warm(change: Change) -> bool:
        supply, on = apply_change(plan, row, change)
        temps = _rerun(pred, flats, supply, on)
        return bool((temps >= std).all())

    raises = np.arange(raise_step_k, max_raise_k + 1e-9, raise_step_k)
    off = plan.on[row] < 0.5
    if off.any():
        already = bool(off[0])
        first_off = (float(plan.times[0]) if already or math.isnan(plan.off_start[row])
                     else float(plan.off_start[row]))
        # within the horizon the heating is planned off: keep it on from that moment
        keep = Change(keep_on=True, from_t=first_off, already_off=already)
        if warm(keep):
            return keep
        for r in raises:
            both = Change(keep_on=True, raise_k=float(r), from_t=first_off, already_off=already)
            if warm(both):
                return both
        return None
    starts = plan.times
    for r in raises:
        # the latest start that still works: warm supply later costs less heat
        found: Change | None = None
        for t in starts[::-1]:
            change = Change(raise_k=float(r), from_t=float(t))
            if warm(change):
                found = change
                break
        if found is not None:
            return found
    return None
