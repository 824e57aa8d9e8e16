"""Backtest: run the rules over stored history and report the alerts they would have raised.

Engineers tune a threshold before enabling it; the honest way to tune is to replay what the
stations really sent. :func:`backtest` does exactly what the live service does, only on event
time:

* the engine is the real :class:`~alerts.engine.Engine` with a throw-away ``:memory:`` SQLite
  store and no receivers (nothing is notified, nothing touches the live state);
* its windows are first warmed from the history just before ``start``
  (:func:`alerts.warmup.warm_up`), so a rate rule is not blind for the first window;
* readings stream from InfluxDB in time chunks, in a fixed order (time, then status,
  telemetry, meter; then station), the next chunk read while the current one is replayed;
* the engine evaluates on the ticks ``start + k * step_s`` of *event* time, each after every
  reading up to it; event-driven (the default), only the ticks where something is due
  (:meth:`alerts.engine.Engine.next_due`: readings, timers, offline timeouts, sweeps after a
  clock breakpoint), with the same alerts and events as evaluating every tick
  (``mode="step"``, the reference);
* liveness uses event time: ``observe`` without an arrival time counts a reading as arriving
  at its own timestamp, which is the engine's replay mode (the live service passes arrival
  times; nothing changes for it).

Alert ids are deterministic, so the same history and rules give the same result, line by line.
The start-up grace of the rules applies at ``start`` as after a real restart. The broker
connection is not in the history: ``pipeline_down`` can only fire on mass silence.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.history import HistorySource, HistoryUnavailable, Selection
from alerts.model import AlertEvent, AlertState, EventKind, Severity
from alerts.store import Store
from alerts.warmup import warm_up
from heatwatch.registry import UNASSIGNED_ZONE, Registry, Station
from heatwatch.wire import Reading

__all__ = ["BacktestAlert", "BacktestResult", "Mode", "Progress", "backtest", "format_table"]

Progress = Callable[[float, float], None]  # (event seconds done, total seconds)
Mode = Literal["event", "step"]

# Rules whose value is worse when lower (pressure, supply temperature, flow); others: higher.
_WORSE_LOW = frozenset({"pressure_drop", "supply_below_curve", "pump_stopped"})
_OFFLINE = "station_offline"
MAX_CHUNK_READINGS = 100_000  # readings of one chunk held in memory, roughly
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(slots=True)
class BacktestAlert:
    """One incident that reached ``firing`` during the backtest.

    ``start`` is when it fired (``pending_at`` when its condition began), ``end`` when it
    resolved (None: still firing at the end of the period). ``worst`` is the most extreme
    value the rule reported while firing (lowest pressure, highest make-up share, ...).
    """

    id: str
    rule: str
    subject: str
    station: str | None
    zone: str | None
    severity: Severity
    pending_at: float
    start: float
    end: float | None = None
    worst: float | None = None
    summary: str = ""
    flapping: bool = False

    def duration(self, until: float) -> float:
        return (self.end if self.end is not None else until) - self.start


@dataclass(slots=True)
class BacktestResult:
    """Everything a backtest found: fired alerts (in firing order) and every transition."""

    start: float
    end: float
    alerts: list[BacktestAlert] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    readings: int = 0
    evaluations: int = 0  # engine evaluations the replay ran (event-driven: only due ones)
    cancelled: int = 0  # pending incidents that cleared before their hold time

    def stations(self) -> list[str]:
        """Stations with alerts, longest total alert time first (what a plot shows first)."""
        total: dict[str, float] = {}
        for a in self.alerts:
            if a.station is not None:
                total[a.station] = total.get(a.station, 0.0) + a.duration(self.end)
        return sorted(total, key=lambda s: (-total[s], s))


def _registry(registry: Registry, source: HistorySource, sel: Selection) -> Registry:
    """The registry restricted to the selection, plus stored stations it does not know.

    Restricted, because a station outside the selection has no readings here and would look
    offline; extended from the stored ``zone`` tags (``SHOW SERIES``), so an unregistered
    station is judged with its zone's overrides instead of as ``unassigned``.
    """
    def wanted(station: str, zone: str) -> bool:
        return (sel.station is None or station == sel.station) and (
            sel.zone is None or zone == sel.zone)

    out = [st for st in registry if wanted(st.id, st.zone)]
    for station, zone in sorted(source.stations(sel).items()):
        zone = zone or UNASSIGNED_ZONE
        if registry.get(station) is None and wanted(station, zone):
            try:
                out.append(Station.model_validate({"id": station, "zone": zone}))
            except ValidationError:  # not a valid id (written by hand?): judged unassigned
                continue
    return Registry.of(out)


def backtest(
    rules: RulesConfig,
    source: HistorySource,
    start: float,
    end: float,
    *,
    zone: str | None = None,
    station: str | None = None,
    registry: Registry | None = None,
    rule: str | None = None,
    step_s: float = 1.0,
    chunk_s: float = 7 * 86400.0,
    warm: bool = True,
    progress: Progress | None = None,
    mode: Mode = "event",
) -> BacktestResult:
    """Replay stored readings in ``[start, end)`` (epoch seconds) through the rules.

    ``zone`` / ``station`` select the history (a single station leaves ``zone_cold`` out: one
    station's flats are not a zone); ``registry`` gives zones, intervals and design flows;
    ``rule`` keeps only that rule's alerts and events in the result (all rules still run, so
    inhibition is as live). ``step_s`` is the evaluation interval in event time (the live
    service's ``evaluate_interval_s``), ``chunk_s`` the longest span read at once (chunks
    adapt below it to about :data:`MAX_CHUNK_READINGS` readings). ``progress(done_s,
    total_s)`` is called after each chunk. ``mode`` ``"event"`` evaluates only the ticks
    where something is due (:meth:`alerts.engine.Engine.next_due`), ``"step"`` every tick:
    the same alerts and events, the second far slower (kept as the reference).

    Raises :class:`alerts.history.HistoryUnavailable` if InfluxDB cannot answer: a backtest
    with holes would report alerts that never were.
    """
    if end <= start:
        raise ValueError("end must be after start")
    if step_s <= 0 or chunk_s <= 0:
        raise ValueError("step_s and chunk_s must be positive")
    if mode not in ("event", "step"):
        raise ValueError(f"mode must be 'event' or 'step', not {mode!r}")
    sel = Selection(station=station, zone=zone)
    clock = _EventClock(start)
    store = Store(":memory:")
    try:
        engine = Engine(rules, store, clock,
                        registry=_registry(registry or Registry(), source, sel), receivers=(),
                        record=False)
        result = _replay(engine, clock, source, sel, start, end, step_s, chunk_s, warm,
                         progress, mode)
    finally:
        store.close()
    if rule is not None:
        result.events = [e for e in result.events if e.alert.rule == rule]
        result.alerts = [a for a in result.alerts if a.rule == rule]
    return result


class _EventClock:
    """The engine's clock in a backtest: the event time of the evaluation in progress."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _replay(engine: Engine, clock: _EventClock, source: HistorySource, sel: Selection,
            start: float, end: float, step_s: float, chunk_s: float, warm: bool,
            progress: Progress | None, mode: Mode) -> BacktestResult:
    """The replay loop of :func:`backtest` (the engine and its store belong to the caller)."""
    result = BacktestResult(start, end)
    found: dict[str, BacktestAlert] = {}
    start_ns, end_ns = round(start * 1e9), round(end * 1e9)
    if warm:
        warmed = warm_up(engine, source, start, selection=sel, until_ns=start_ns)
        if warmed.error is not None:
            raise HistoryUnavailable(warmed.error)

    ticks = _Ticks(engine, clock, start, step_s, result, found, event=mode == "event")

    # Chunks start small and grow up to chunk_s while they stay under MAX_CHUNK_READINGS
    # (and shrink when they do not), so a zone reads in few queries and a whole city never
    # holds an hour of every station in memory. The next chunk is read while this one is
    # replayed: InfluxDB works on the other core meanwhile (and the socket wait is free).
    chunk_ns = max(1, round(chunk_s * 1e9))
    span = min(chunk_ns, 60 * 10**9)
    before, observe = ticks.before, engine.observe
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backtest-read") as reader:
        lo, hi = start_ns, min(start_ns + span, end_ns)
        ahead: Future[list[Reading]] | None = (
            reader.submit(source.chunk, lo, hi, sel) if lo < end_ns else None)
        while ahead is not None:
            readings = ahead.result()
            if len(readings) > MAX_CHUNK_READINGS:
                span = max(10**9, span // 2)
            elif len(readings) < MAX_CHUNK_READINGS // 4:
                span = min(chunk_ns, span * 2)
            next_lo, next_hi = hi, min(hi + span, end_ns)
            ahead = reader.submit(source.chunk, next_lo, next_hi, sel) if hi < end_ns else None
            ticks.chunk(readings, last=hi >= end_ns)
            for i, reading in enumerate(readings):
                before(reading.ts_ns / 1e9, i)
                observe(reading)  # no arrival time: liveness on event time
            result.readings += len(readings)
            if progress is not None:
                progress((hi - start_ns) / 1e9, end - start)
            lo, hi = next_lo, next_hi
    ticks.chunk([], last=True)
    ticks.before(end)
    result.alerts = list(found.values())
    return result


class _Ticks:
    """The evaluation ticks ``start + k * step_s`` of a replay, and which of them to run.

    A reading at ``t`` is observed before the first tick at or after ``t``. Step by step
    (``event=False``) every tick is evaluated. Event-driven, only the ticks where something
    can happen are: each tick that has readings, and in between the ticks that
    :meth:`Engine.next_due` names; sweeps still cover exactly the previous tick's interval
    (``evaluate(..., since=...)``), so the alerts are those of the step-by-step replay.

    A ``station_offline`` alert's value (the silence so far) grows with every tick, and the
    last one before its end is what the result and the resolving event report. So the tick
    before a tick with readings is run too when one of those readings comes from a station
    whose offline alert is open (its reading ends the silence), and the tick before a due
    tick or the end while any offline alert is open (a clock breakpoint may end it). A
    station offline for weeks costs nothing at the other stations' readings. At a tick with
    readings and nothing else due, :meth:`Engine.evaluate_readings` spares the work a
    healthy station's reading cannot need.
    """

    def __init__(self, engine: Engine, clock: _EventClock, start: float, step_s: float,
                 result: BacktestResult, found: dict[str, BacktestAlert], *,
                 event: bool) -> None:
        self.engine, self.clock, self.start, self.step = engine, clock, start, step_s
        self.result, self.found, self.event = result, found, event
        self.done = -1  # last evaluated tick
        self.pending: int | None = 0  # a tick with readings (the first tick always runs)
        self.only_readings = False  # nothing else is due at the pending tick (next_due)
        self.last_t = math.nan  # time of the last reading passed to before()
        self.margin = min(1e-3, step_s / 1000)  # float slack on due times: rather early
        self.readings: list[Reading] = []  # the chunk being replayed
        self.last_chunk = True  # no readings after it

    def time(self, k: int) -> float:
        return self.start + k * self.step

    def index(self, t: float) -> int:
        """The first tick at or after ``t`` (exactly: ticks are compared as computed)."""
        start, step = self.start, self.step
        k = max(0, math.ceil((t - start) / step))
        while k > 0 and start + (k - 1) * step >= t:
            k -= 1
        while start + k * step < t:
            k += 1
        return k

    def run(self, k: int, *, readings_only: bool = False) -> None:
        now = self.time(k)
        self.clock.now = now
        since = None if k == 0 or not self.event else self.time(k - 1)
        if readings_only:
            events = self.engine.evaluate_readings(now, since=since)
        else:
            events = self.engine.evaluate(now, since=since)
        if not self.engine.idle:  # an idle tick changed no alert: nothing to collect
            _collect(events, self.engine, self.found, self.result)
        self.result.evaluations += 1
        self.done = k

    def _run_with_previous(self, k: int) -> None:
        if k - 1 > self.done and self._offline_open():
            self.run(k - 1)
        self.run(k)

    def _offline_open(self) -> bool:
        return self.engine.has_open(_OFFLINE)

    def chunk(self, readings: list[Reading], *, last: bool) -> None:
        """The readings about to be replayed (``before`` looks ahead in them)."""
        self.readings, self.last_chunk = readings, last

    def _ends_silence(self, i: int, k: int) -> bool:
        """Whether a reading of tick ``k``, from the ``i``-th of the chunk on, comes from a
        station whose ``station_offline`` alert is open. A tick the chunk may not hold to
        its end counts as yes (the answer must never be a wrong no)."""
        engine = self.engine
        if not engine.has_open(_OFFLINE):
            return False
        bound = self.time(k)  # compared as index() compares: in float seconds
        readings = self.readings
        for j in range(i, len(readings)):
            reading = readings[j]
            if reading.ts_ns / 1e9 > bound:
                return False
            if engine.is_open(_OFFLINE, reading.station):
                return True
        return not self.last_chunk

    def before(self, t: float, i: int = -1) -> None:
        """Evaluate what is due before ``t``: the time of the ``i``-th reading of the chunk
        (``i`` -1: the end, or a time with no reading)."""
        if not self.event:
            while self.time(self.done + 1) < t:
                self.run(self.done + 1)
            return
        if t == self.last_t:
            return  # another reading of the same instant: its tick is already pending
        self.last_t = t
        limit = self.index(t)
        if self.pending is not None:
            if self.pending >= limit:
                return  # more readings of the tick already waiting
            self.run(self.pending, readings_only=self.only_readings)
            self.pending = None
        while True:
            due = self.engine.next_due(self.time(self.done), self.step) - self.margin
            if due > self.time(limit):
                k = limit + 1  # nothing due at the reading's tick either
                break
            k = max(self.done + 1, self.index(due))
            if k >= limit:
                break
            self._run_with_previous(k)
        self.only_readings = k > limit
        if limit - 1 > self.done and (self._ends_silence(i, limit) if i >= 0
                                      else self._offline_open()):
            self.run(limit - 1)
            self.only_readings = False
        self.pending = limit


def _collect(events: list[AlertEvent], engine: Engine, found: dict[str, BacktestAlert],
             result: BacktestResult) -> None:
    """Fold one evaluation's transitions (and the firing alerts' values) into the result.

    One evaluation's transitions are taken in (rule, subject) order, each alert's in the
    order they happened: the order stations were swept in is an accident of set iteration,
    and the same history must give the same result whichever ticks were evaluated."""
    if len(events) > 1:
        events = sorted(events, key=_event_order)
    for event in events:
        result.events.append(event)
        a = event.alert
        if event.kind is EventKind.FIRING:
            found[a.id] = BacktestAlert(a.id, a.rule, a.subject, a.station, a.zone, a.severity,
                                        a.active_at, event.ts, summary=a.summary)
        elif event.kind is EventKind.CANCELLED:
            result.cancelled += 1
        item = found.get(a.id)
        if item is None:
            continue
        if event.kind is EventKind.RESOLVED:
            item.end = event.ts
        elif event.kind is EventKind.FLAPPING:
            item.flapping = True
        if _RANK[a.severity] > _RANK[item.severity]:
            item.severity = a.severity
    for alert in engine.open_alerts():
        item = found.get(alert.id)
        if item is None or alert.state is not AlertState.FIRING or alert.value is None:
            continue
        value = alert.value
        if item.worst is None or (value < item.worst if alert.rule in _WORSE_LOW
                                  else value > item.worst):
            item.worst = value
            item.summary = alert.summary or item.summary


def _event_order(event: AlertEvent) -> tuple[str, str]:
    return event.alert.rule, event.alert.subject


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "(open)"
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def format_table(result: BacktestResult) -> str:
    """The alerts as a fixed-width table (UTC times), plus a one-line summary."""
    head = ("rule", "subject", "severity", "start (UTC)", "end (UTC)", "duration", "worst",
            "summary")
    rows = [
        (a.rule, a.subject, a.severity.value + (" flapping" if a.flapping else ""),
         _fmt_time(a.start), _fmt_time(a.end), _fmt_duration(a.duration(result.end)),
         "" if a.worst is None or not math.isfinite(a.worst) else f"{a.worst:.4g}", a.summary)
        for a in result.alerts
    ]
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head) - 1)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
             for r in (head, *rows)]
    lines.insert(1, "-" * min(120, len(lines[0])))
    open_count = sum(1 for a in result.alerts if a.end is None)
    lines.append(
        f"{len(result.alerts)} alert(s) would have fired ({open_count} still firing at the end)"
        f" from {_fmt_time(result.start)} to {_fmt_time(result.end)} UTC; "
        f"{result.cancelled} pending cleared before firing; {result.readings} readings replayed"
    )
    return "\n".join(lines)
