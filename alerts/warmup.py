"""Warm the engine's windows from InfluxDB when ``heatwatch alerts`` starts.

The engine keeps its recent readings in memory only, so after a restart a rate rule
(``pressure_drop``'s fall rate, ``tank_draining``) would need half a window of fresh data
before it could say anything, and a leak that was obvious a minute before the restart would
go unnoticed for five minutes more. Warm-up reads back what the collector stored:

* the newest samples of every station's telemetry over the longest rate window (at most
  ``history_len`` per station, the size of the engine's ring);
* how long each ``stuck_sensor`` field has been unchanged, from bucketed min/max/count over
  the stuck window (hours of raw samples would be too much to read at start);
* the latest indoor temperature of every flat, and the latest status of every station.

They are observed with their *event* time and nothing is evaluated during warm-up: the first
evaluation runs at "now", so stale history never produces a notification of its own, and a
``for`` hold time starts at the restart. Liveness is not faked either: a warm-up reading
counts as arriving at its own (past) time, so a station whose last stored reading is old is
silent since the restart and becomes ``station_offline`` once the start-up grace is over.

InfluxDB being down (or refusing) is logged and the engine starts cold: warm-up is a better
start, never a condition for starting.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.history import HistorySource, HistoryUnavailable, Selection
from alerts.rules.sensor import STUCK_SENSOR
from heatwatch.wire import Kind

__all__ = ["WarmupReport", "rate_window_s", "warm_up"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WarmupReport:
    """What warm-up fed the engine; ``error`` is set when it stopped early (engine still ok)."""

    telemetry: int = 0
    stations: int = 0
    flats: int = 0
    statuses: int = 0
    stuck_seeded: int = 0  # fields whose unchanged-since time came from the longer history
    seconds: float = 0.0
    error: str | None = None


def rate_window_s(rules: RulesConfig) -> float:
    """The longest window a rate rule looks back over, across every zone/station override."""
    return rules.rate_window_s()


def warm_up(
    engine: Engine, source: HistorySource, now: float, *,
    lookback_s: float | None = None, latest_s: float = 3600.0, page: int = 1000,
    selection: Selection | None = None, until_ns: int | None = None, stuck: bool = True,
) -> WarmupReport:
    """Feed stored history into ``engine`` (which must not have evaluated yet).

    ``lookback_s`` bounds telemetry (default: :func:`rate_window_s`), ``latest_s`` bounds the
    search for each flat's and station's latest value; ``page`` is series per query.
    ``selection`` limits it to a zone or station and ``until_ns`` is the exclusive end of the
    history (default: just after ``now``); the backtest uses both. ``stuck`` also restores
    how long each ``stuck_sensor`` field has been unchanged (:func:`_seed_stuck`). Never
    raises for InfluxDB trouble: the report says what happened.
    """
    began = time.monotonic()
    report = WarmupReport()
    window = rate_window_s(engine.rules) if lookback_s is None else lookback_s
    now_ns = int(now * 1e9)
    end_ns = now_ns + 1 if until_ns is None else until_ns
    sel = selection or Selection()
    per_station = max(engine.rules.history_len,
                      STUCK_SENSOR.params(engine.rules.defaults).min_samples)
    try:
        for readings in source.latest("station_status", Kind.STATUS, '"state", "online"',
                                      now_ns - int(latest_s * 1e9), end_ns, '"station"', 1,
                                      page, sel):
            for reading in readings:
                engine.observe(reading, min(reading.ts_ns / 1e9, now))
                report.statuses += 1
        for readings in source.latest("telemetry", Kind.TELEMETRY, "*",
                                      now_ns - int(window * 1e9), end_ns, '"station"',
                                      per_station, page, sel):
            for reading in readings:
                # arrival = event time (never later than now): history is not a fresh arrival
                engine.observe(reading, min(reading.ts_ns / 1e9, now))
            report.telemetry += len(readings)
            report.stations += bool(readings)
        if stuck:
            report.stuck_seeded = _seed_stuck(engine, source, end_ns, sel, page)
        meters = source.latest("meter", Kind.METER, '"indoor_temp"',
                               now_ns - int(latest_s * 1e9), end_ns, '"station", "meter"', 1,
                               page, sel) if sel.meters else iter(())
        for readings in meters:
            for reading in readings:
                engine.observe(reading)
                report.flats += 1
    except HistoryUnavailable as exc:
        report.error = str(exc)
        log.warning("warm-up from InfluxDB stopped, continuing with what it got (%d stations,"
                    " %d flats): %s", report.stations, report.flats, exc)
    report.seconds = time.monotonic() - began
    if report.error is None:
        log.info("warmed up from InfluxDB in %.1f s: %d readings of %d stations (last %.0f s),"
                 " %d flats, %d statuses", report.seconds, report.telemetry, report.stations,
                 window, report.flats, report.statuses)
    return report


def _seed_stuck(engine: Engine, source: HistorySource, end_ns: int, sel: Selection,
                page: int) -> int:
    """Restore "unchanged since" of the ``stuck_sensor`` fields from hours of history.

    ``stuck_sensor`` needs two hours of identical samples, far more raw telemetry than a
    warm-up should read; per station and field, ``min``/``max``/``count`` over ~5-minute
    buckets say as much: walking back from the newest bucket while each is constant at the
    current value gives the run. Its start is rounded *late* (the end of the oldest constant
    bucket) and its count low, so a warmed engine never calls a sensor stuck earlier than
    the live one would have; at most about two buckets later. Returns fields seeded.
    """
    rules = engine.rules
    sets = [rules.defaults, *rules.zones.values(), *rules.stations.values()]
    stuck = [STUCK_SENSOR.params(s) for s in sets]
    fields = sorted({f for p in stuck if p.enabled for f in p.fields})
    if not fields:
        return 0
    span = max(p.stuck_after_s for p in stuck)
    bucket = max(60, math.ceil(span / 24))
    since = end_ns - int((span + 2 * bucket) * 1e9)
    select = ", ".join(f'min("{f}") AS "lo{i}", max("{f}") AS "hi{i}", count("{f}") AS "n{i}"'
                       for i, f in enumerate(fields))
    where, params = sel.where()
    seeded, offset = 0, 0
    while True:
        series = source.query(
            f'SELECT {select} FROM "telemetry" WHERE time >= {since} AND time < {end_ns}'
            f'{where} GROUP BY time({bucket}s), "station" fill(none) SLIMIT {page}'
            f" SOFFSET {offset}", params)
        for s in series:
            window = engine.fleet.windows.get(s.tags.get("station", ""))
            if window is None:
                continue
            rows = list(s.rows())
            for i, name in enumerate(fields):
                state = window.fields.get(name)
                run = _constant_run(rows, i, bucket)
                if state is None or run is None:
                    continue
                value, changed_at, count = run
                if state.value == value and changed_at < state.changed_at:
                    state.changed_at = changed_at
                    state.same_count = max(state.same_count, count)
                    seeded += 1
        if len(series) < page:
            return seeded
        offset += page


def _constant_run(rows: list[dict[str, Any]], i: int,
                  bucket: int) -> tuple[float, float, int] | None:
    """(value, unchanged since, samples) of the newest run of equal buckets, or None."""
    value: float | None = None
    count, oldest = 0, 0
    for row in reversed(rows):
        lo, hi, n = row.get(f"lo{i}"), row.get(f"hi{i}"), row.get(f"n{i}")
        if not n:
            continue
        if lo is None or lo != hi or (value is not None and lo != value):
            break
        value, count, oldest = lo, count + int(n), int(row["time"])
    if value is None:
        return None
    return float(value), oldest / 1e9 + bucket, count
