"""When a rule's verdict can change with the clock alone: the breakpoints behind ``next_due``.

A station rule is a pure ``evaluate(now, window)``; with the window unchanged, its verdict
moves with ``now`` only through

* the heating schedule: the season (a local date), the night setback and every other
  time-of-day window of the schedule, and anything that runs a fixed time after one of them
  (``warmup_s`` after heating resumes);
* the rate windows of ``pressure_drop`` and ``tank_draining``: a sample leaves the window
  ``window_s`` after it was taken;
* the station's own regime times (when it last restarted, since when it is idle), each plus
  a duration of the schedule (``warmup_s``, ``heating_not_resumed.unplanned_s``).

A rule whose FIRE *value* grows with the clock (``heating_not_resumed``: idle seconds) is in
:data:`CLOCK_VALUED`: while it is open, its station's sweeps are all kept.

:func:`schedule_breaks` lists the instants where the first can change (over-inclusive:
every configured local time of day, fold 0 and 1, every local midnight, every UTC-offset
change, and every duration of the schedule after the end of each planned off window, the one
time of day a rule measures a duration from: :func:`alerts.schedule.last_off_end`, for the
warm-up and ``heating_not_resumed.after_window_s``); :func:`ring_break` gives the
next instant where the second can. The engine's :meth:`~alerts.engine.Engine.next_due` uses
them to know which sweeps of an unchanged station can be skipped in a replay; a rule that
makes its verdict depend on the clock in another way must be added here, or event-driven
backtests will miss its transitions (``tests/alerts/backtest/test_backtest_events.py`` compares them
with step-by-step replays).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from alerts.config import HeatingSchedule, RuleSet
from alerts.rules import RULES
from alerts.window import StationWindow

__all__ = ["CLOCK_VALUED", "ScheduleBreaks", "ring_break", "window_break"]

_DAYS_PER_BLOCK = 32  # breakpoints are computed a month at a time, then bisected
_LIFECYCLE = frozenset({"for_s", "keep_firing_for_s", "flap_window_s"})


def _times_and_durations(model: BaseModel) -> tuple[set[dt.time], set[float]]:
    """Every time-of-day and every ``*_s`` duration in a schedule, nested models included."""
    times: set[dt.time] = set()
    durations: set[float] = set()

    def walk(value: object, name: str) -> None:
        if isinstance(value, dt.time):
            times.add(value)
        elif isinstance(value, BaseModel):
            for key in type(value).model_fields:
                walk(getattr(value, key), key)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, name)
        elif (name.endswith("_s") and name not in _LIFECYCLE and isinstance(value, int | float)
              and not isinstance(value, bool) and math.isfinite(value) and value > 0):
            durations.add(float(value))

    walk(model, "")
    return times, durations


@lru_cache(maxsize=64)
def _tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset_changes(lo: int, hi: int, tz: ZoneInfo) -> list[float]:
    """UTC-offset changes in ``[lo, hi)`` (whole seconds), found by bisection per day."""
    out: list[float] = []

    def offset(t: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(t, tz).utcoffset()

    day = 86400
    t = lo
    while t < hi:
        u = min(t + day, hi)
        if offset(t) != offset(u):
            a, b = t, u  # offset(a) differs from offset(b): the change is in (a, b]
            while b - a > 1:
                m = (a + b) // 2
                if offset(m) == offset(a):
                    a = m
                else:
                    b = m
            out.append(float(b))
        t = u
    return out


class ScheduleBreaks:
    """The instants where the schedule of one rule set may change what a rule says."""

    def __init__(self, rules: RuleSet) -> None:
        heating: HeatingSchedule = rules.heating
        self.tz = _tz(heating.timezone)
        times, durations = _times_and_durations(heating)
        extra = getattr(rules, "heating_not_resumed", None)  # an outage rule of the schedule
        if isinstance(extra, BaseModel):
            more_times, more_durations = _times_and_durations(extra)
            times |= more_times
            durations |= more_durations
        self.times = sorted(times | {dt.time(0, 0)})
        # Durations run from the end of a planned off window (``last_off_end``) only; the
        # regime times of the data have theirs in :func:`window_break`. Each other time of
        # day plus each duration would be a sweep of every station for nothing, several
        # times a day (a third of the evaluations of a replay of real stations).
        self.anchors = frozenset(w.end for w in heating.off_windows)
        self.durations = sorted(durations)
        self._lo = math.inf
        self._hi = -math.inf
        self._breaks: list[float] = []
        self._last = (math.nan, math.inf)

    def _block(self, start_day: dt.date) -> list[float]:
        """Breakpoints of ``_DAYS_PER_BLOCK`` local days from ``start_day``, unsorted."""
        out: list[float] = []
        for n in range(-1, _DAYS_PER_BLOCK + 1):  # a day either side: durations reach over
            day = start_day + dt.timedelta(days=n)
            for t in self.times:
                for fold in (0, 1):
                    at = dt.datetime.combine(day, t, self.tz).replace(fold=fold).timestamp()
                    out.append(at)
                    if t in self.anchors:
                        out.extend(at + d for d in self.durations)
        lo = int(dt.datetime.combine(start_day, dt.time(0), self.tz).timestamp()) - 2 * 86400
        out.extend(_offset_changes(lo, lo + (_DAYS_PER_BLOCK + 4) * 86400, self.tz))
        return out

    def after(self, t: float) -> float:
        """The first breakpoint strictly after ``t``."""
        if t == self._last[0]:
            return self._last[1]  # stations evaluated together ask with the same time
        found = self._after(t)
        self._last = (t, found)
        return found

    def _after(self, t: float) -> float:
        if not self._lo <= t < self._hi:
            day = dt.datetime.fromtimestamp(t, self.tz).date() - dt.timedelta(days=1)
            self._breaks = sorted(set(self._block(day)))
            self._lo = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0),
                                           self.tz).timestamp()
            self._hi = dt.datetime.combine(day + dt.timedelta(days=_DAYS_PER_BLOCK - 1),
                                           dt.time(0), self.tz).timestamp()
        i = bisect.bisect_right(self._breaks, t)
        if i == len(self._breaks):  # cannot happen with a block around t; be safe anyway
            return t + 3600.0
        return self._breaks[i]


# Rules whose FIRE value grows with the clock (how long idle): while one of them is open for
# a station, every sweep of the station refreshes the alert's value, so none may be skipped.
CLOCK_VALUED = frozenset({"heating_not_resumed"})
# Times a window keeps about the station's heating regime (restart, idle since, ...): a rule
# can change its mind a configured duration after one of them.
_WINDOW_TIMES = ("resumed_at", "idle_since", "delivering_since")


def window_break(window: StationWindow, breaks: ScheduleBreaks, after: float) -> float:
    """The first instant after ``after`` that is one of the schedule's durations past one
    of the window's regime times (``math.inf``: none)."""
    best = math.inf
    durations = breaks.durations
    names: tuple[str, ...] = _WINDOW_TIMES
    if window.delivering is False:  # the last delivering reading matters only while idle
        names = (*names, "delivered_at")
    for name in names:
        t = getattr(window, name, None)
        if isinstance(t, float | int):
            i = bisect.bisect_right(durations, after - t)  # the first with t + d > after
            if i < len(durations) and t + durations[i] < best:
                best = t + durations[i]
    return best


_SPANS: dict[int, tuple[RuleSet, frozenset[float]]] = {}


def _rate_spans(rules: RuleSet) -> frozenset[float]:
    """The look-backs of the rate rules (``RuleSpec.lookback``) under ``rules``, each applied
    to every ring (a superset of the instants that matter), worked out once per rule set."""
    hit = _SPANS.get(id(rules))
    if hit is None or hit[0] is not rules:
        if len(_SPANS) >= 4096:  # bounded: rule sets of configs long gone (backtests, tests)
            _SPANS.clear()
        found = (spec.lookback(rules) for spec in RULES
                 if spec.layered and spec.lookback is not None)
        spans = frozenset(s for s in found if s is not None)
        hit = _SPANS[id(rules)] = (rules, spans)
    return hit[1]


def ring_break(window: StationWindow, rules: RuleSet, after: float) -> float:
    """The next instant after ``after`` at which a rate window of the station loses a sample
    (``math.inf`` if it has none left to lose)."""
    best = math.inf
    if not window.history:
        return best
    spans = _rate_spans(rules)
    for ring in window.history.values():
        lo, n = ring.span()
        times = ring.times
        for span in spans:
            i = bisect.bisect_left(times, after - span, lo, n)
            if i < n:
                best = min(best, times[i] + span)
    return best
