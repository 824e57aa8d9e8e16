"""Heating schedule and weather curve: when heat is owed, and how hot the supply should be.

Rules that blame the station for cold (pump stopped, supply below curve, zone cold) only make
sense while the heating is meant to run; in summer a stopped circulation pump is normal, and
so is a cold supply inside a planned night shutdown (``off_windows``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from alerts.params import CurvePoint, HeatingSchedule

__all__ = [
    "curve_setpoint", "heating_on", "in_setback", "last_off_end", "local_time", "planned_off",
]

T = TypeVar("T")


@lru_cache(maxsize=64)
def _tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(now: float, schedule: HeatingSchedule) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, tz=_tz(schedule.timezone))


def local_time(now: float, schedule: HeatingSchedule) -> dt.datetime:
    """``now`` in the schedule's time zone (for messages)."""
    return _local(now, schedule)


# time zone -> (15-minute bucket, its UTC offset in seconds). Zones change their offset only
# at multiples of 15 minutes since the epoch (every offset in use is a multiple of 15
# minutes), and a bucket where that is not so (a historic offset in seconds) is not cached.
# A backtest asks for a new instant at almost every evaluation; this makes the time of day an
# addition instead of a tz conversion.
_offset_cache: dict[str, tuple[float, float]] = {}


def _utc_offset(now: float, schedule: HeatingSchedule) -> float:
    off = _local(now, schedule).utcoffset()
    return 0.0 if off is None else off.total_seconds()


def _seconds_of_day(now: float, schedule: HeatingSchedule) -> float:
    """Local wall-clock seconds since midnight (what ``_local(now).time()`` says)."""
    bucket = now // 900
    hit = _offset_cache.get(schedule.timezone)
    if hit is None or hit[0] != bucket:
        start = bucket * 900
        offset = _utc_offset(start, schedule)
        if _utc_offset(start + 899.999999, schedule) != offset:
            return _time_seconds(_local(now, schedule).time())
        if len(_offset_cache) > 256:
            _offset_cache.clear()
        hit = _offset_cache[schedule.timezone] = (bucket, offset)
    return (now + hit[1]) % 86400.0


def _time_seconds(t: dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _within(t: float, start: dt.time, end: dt.time) -> bool:
    """``start <= t < end`` on the clock (``t`` in seconds of the day); wraps midnight when
    ``end`` is not after ``start``."""
    a, b = _time_seconds(start), _time_seconds(end)
    if a < b:
        return a <= t < b
    return t >= a or t < b


# id(schedule) -> (schedule, valid from, valid until, answer). The season, the setback and
# the off windows change only at local midnight or at a configured time of day: an answer
# holds over the whole span between two of those. A replay asks each station at its own
# readings' instants, so caching one instant (or one 15-minute bucket) per schedule missed
# almost every time; a span is found once per change, with two tz conversions.
_Span = tuple[HeatingSchedule, float, float, bool]
_season_cache: dict[int, _Span] = {}
_setback_cache: dict[int, _Span] = {}
_off_cache: dict[int, _Span] = {}


def _cached(cache: dict[int, _Span], now: float, schedule: HeatingSchedule) -> bool | None:
    hit = cache.get(id(schedule))
    if hit is not None and hit[0] is schedule and hit[1] <= now < hit[2]:
        return hit[3]
    return None


def _remember(cache: dict[int, _Span], now: float, schedule: HeatingSchedule,
              edges: Sequence[float], answer: bool) -> bool:
    """Cache ``answer`` from the edge (seconds of the local day) at or before ``now`` to the
    next one after it, when the UTC offset is the same at both ends as at ``now``: the local
    clock then runs with the UTC one in between (no zone changes its offset twice within a
    day). Across an offset change nothing is cached: it is worked out at every call."""
    sod = _seconds_of_day(now, schedule)
    back = min((sod - e) % 86400.0 for e in edges)
    ahead = min(((e - sod) % 86400.0) or 86400.0 for e in edges)
    lo, hi = now - back, now + ahead
    offset = _utc_offset(now, schedule)
    if _utc_offset(lo, schedule) == offset == _utc_offset(hi - 1e-3, schedule):
        if len(cache) > 4096:
            cache.clear()
        cache[id(schedule)] = (schedule, lo, hi - 1e-3, answer)
    return answer


def heating_on(now: float, schedule: HeatingSchedule) -> bool:
    """True inside the heating season (inclusive; a season may wrap the new year)."""
    hit = _cached(_season_cache, now, schedule)
    if hit is not None:
        return hit
    return _remember(_season_cache, now, schedule, (0.0,), _heating_on(now, schedule))


def _heating_on(now: float, schedule: HeatingSchedule) -> bool:
    local = _local(now, schedule)
    today = (local.month, local.day)
    start = tuple(int(x) for x in schedule.season_start.split("-"))
    end = tuple(int(x) for x in schedule.season_end.split("-"))
    if start <= end:
        return start <= today <= end
    return today >= start or today <= end


def in_setback(now: float, schedule: HeatingSchedule) -> bool:
    """True during the configured night setback (may wrap midnight)."""
    a, b = schedule.setback_start, schedule.setback_end
    if a is None or b is None or a == b:
        return False  # none, or an empty window (start <= t < start)
    hit = _cached(_setback_cache, now, schedule)
    if hit is not None:
        return hit
    answer = _within(_seconds_of_day(now, schedule), a, b)
    return _remember(_setback_cache, now, schedule, (_time_seconds(a), _time_seconds(b)),
                     answer)


def planned_off(now: float, schedule: HeatingSchedule) -> bool:
    """True inside one of the daily windows in which the heating is planned off."""
    if not schedule.off_windows:
        return False
    hit = _cached(_off_cache, now, schedule)
    if hit is not None:
        return hit
    t = _seconds_of_day(now, schedule)
    answer = any(_within(t, w.start, w.end) for w in schedule.off_windows)
    edges = [_time_seconds(x) for w in schedule.off_windows for x in (w.start, w.end)]
    return _remember(_off_cache, now, schedule, edges, answer)


# id(schedule) -> (schedule, now, answer): every station evaluated in one engine pass asks
# with the same ``now``, so one tz conversion per pass instead of one per station.
_end_cache: dict[int, tuple[HeatingSchedule, float, float | None]] = {}


def _memo(
    cache: dict[int, tuple[HeatingSchedule, float, T]], schedule: HeatingSchedule,
    key: float, compute: Callable[[], T],
) -> T:
    """The last answer per schedule, reused while ``key`` is unchanged."""
    hit = cache.get(id(schedule))
    if hit is not None and hit[0] is schedule and hit[1] == key:
        return hit[2]
    answer = compute()
    if len(cache) > 4096:
        cache.clear()
    cache[id(schedule)] = (schedule, key, answer)
    return answer


def last_off_end(now: float, schedule: HeatingSchedule) -> float | None:
    """When the most recent planned off window ended (at or before ``now``, within the last
    day), as a timestamp; None without off windows. The warm-up and ``heating_not_resumed``
    count from it."""
    if not schedule.off_windows:
        return None
    return _memo(_end_cache, schedule, now, lambda: _last_off_end(now, schedule))


def _last_off_end(now: float, schedule: HeatingSchedule) -> float:
    local = _local(now, schedule)
    tz = local.tzinfo
    best = -math.inf
    for w in schedule.off_windows:
        end = dt.datetime.combine(local.date(), w.end, tzinfo=tz)
        if end > local:
            end = dt.datetime.combine(local.date() - dt.timedelta(days=1), w.end, tzinfo=tz)
        best = max(best, end.timestamp())
    return best


def curve_setpoint(outdoor_c: float, curve: Sequence[CurvePoint]) -> float:
    """Supply setpoint for an outdoor temperature: piecewise linear, clamped at both ends."""
    if outdoor_c <= curve[0].outdoor_c:
        return curve[0].supply_c
    if outdoor_c >= curve[-1].outdoor_c:
        return curve[-1].supply_c
    for lo, hi in itertools.pairwise(curve):
        if lo.outdoor_c <= outdoor_c <= hi.outdoor_c:
            frac = (outdoor_c - lo.outdoor_c) / (hi.outdoor_c - lo.outdoor_c)
            return lo.supply_c + frac * (hi.supply_c - lo.supply_c)
    return curve[-1].supply_c  # unreachable: the curve is validated as strictly increasing
