"""The delivery threads of ``heatwatch alerts``, each supervised.

Why one thread per receiver: a receiver that accepts a connection and never answers holds
its sender for a whole timeout per message. With one delivery thread for everyone, a hung
webhook delayed every other receiver's pages by its timeout, message after message (measured:
the good receiver's five pages came 11, 21, 31, 41 and 51 s late). Now:

* ``route``: the routing stages (route, group, dedup, escalation and repeat timers) and the
  retention pass - only SQLite, never the network, so it cannot hang on a receiver;
* ``events``: the InfluxDB ``alert_events`` sink (a slow InfluxDB delays only itself);
* ``receiver:<name>``: one per receiver, draining only that receiver's due rows through the
  dispatcher (hold, pacing, breaker, send, retry), and renewing the leases of the alerts it
  holds firing when its channel keeps them on a lease (Alertmanager, every ``resend_s``). It
  is woken when the routing thread adds rows.

Why supervised: an unexpected exception (a bug in a channel, a corrupt row) used to end the
delivery thread silently while evaluation carried on, so alerts were recorded and never sent.
:class:`Supervised` logs it with its traceback, counts it
(``heatwatch_alert_delivery_restarts_total{thread}``), waits (``restart_backoff_s``, doubling
up to 30 s while the crash repeats) and runs the loop again. ``/healthz`` of the service and
the ``heatwatch_alert_delivery_*`` metrics show each thread's state (:meth:`Delivery.health`).
A row that crashes its worker every time keeps that one receiver restarting (visible there);
the others are not affected.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field

from alerts.notify.base import GroupNotifier
from alerts.notify.delivery import Pipeline
from alerts.notify.influx import CURSOR, AlertEventSink, SinkError
from alerts.store import Store

__all__ = ["Delivery", "RetentionSettings", "Supervised"]

log = logging.getLogger(__name__)

RESTARTS = Counter(
    "heatwatch_alert_delivery_restarts_total",
    "Delivery threads restarted after an unexpected exception", ["thread"],
)
UP = Gauge(
    "heatwatch_alert_delivery_up",
    "1 while a delivery thread runs its loop, 0 after a crash until it restarts", ["thread"],
)
LAST_PASS = Gauge(
    "heatwatch_alert_delivery_last_pass_timestamp_seconds",
    "Wall time of a delivery thread's last completed pass", ["thread"],
)
PRUNED = Counter(
    "heatwatch_alert_pruned_rows_total", "State rows deleted by the retention pass", ["table"],
)

MAX_RESTART_BACKOFF_S = 30.0
DAY = 86400.0


class RetentionSettings(BaseModel):
    """``retention``: how long the state database keeps finished rows (null: for ever).

    An open alert's outbox rows are kept whatever their age (their keys make a restart send
    its resolved, escalation and repeats exactly once), and events the InfluxDB sink has not
    written yet are kept too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbox_days: float | None = Field(default=30.0, gt=0, description="sent/failed pages")
    events_days: float | None = Field(default=90.0, gt=0, description="event log")
    alerts_days: float | None = Field(default=365.0, gt=0, description="resolved alerts")
    interval_s: float = Field(default=3600.0, gt=0, description="between retention passes")


class Supervised:
    """Runs ``step`` in a loop in its own thread, every ``interval_s`` or when woken, and
    restarts the loop after an unexpected exception (logged, counted)."""

    def __init__(self, name: str, step: Callable[[], object], *, interval_s: float,
                 stop: threading.Event, restart_backoff_s: float = 1.0) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.restart_backoff_s = restart_backoff_s
        self.wake = threading.Event()
        self._stop = stop
        self.restarts = 0
        self.last_error: str | None = None
        self.running = False  # in its loop (False between a crash and its restart)
        self.last_pass = time.time()
        self.passes = 0
        self.thread = threading.Thread(target=self._run, name=f"alerts-{name}", daemon=True)
        UP.labels(name).set(0)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        backoff = self.restart_backoff_s
        while not self._stop.is_set():
            self.running = True
            UP.labels(self.name).set(1)
            passes = self.passes
            try:
                self._loop()
                return
            except Exception as exc:  # the supervisor: log (traceback), count, restart
                if self.passes > passes:  # it ran for a while: a new fault, not a loop
                    backoff = self.restart_backoff_s
                self.running = False
                self.restarts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                UP.labels(self.name).set(0)
                RESTARTS.labels(self.name).inc()
                log.exception("delivery thread %s crashed (restart %d in %.1f s)", self.name,
                              self.restarts, backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_RESTART_BACKOFF_S)
        self.running = False

    def _loop(self) -> None:
        while True:
            self.wake.wait(self.interval_s)
            self.wake.clear()
            stopping = self._stop.is_set()
            self.step()
            self.passes += 1
            self.last_pass = time.time()
            LAST_PASS.labels(self.name).set(self.last_pass)
            if stopping:
                return

    def join(self, timeout: float) -> None:
        self.wake.set()
        self.thread.join(timeout)
        self.running = False
        UP.labels(self.name).set(0)

    def health(self, now: float) -> dict[str, Any]:
        return {"up": self.running and self.thread.is_alive(), "restarts": self.restarts,
                "last_error": self.last_error,
                "last_pass_age_s": round(max(now - self.last_pass, 0.0), 3)}


@dataclass(slots=True)
class _SinkState:
    down: bool = False  # log an InfluxDB outage when it starts and ends, not every round


class Delivery:
    """The routing thread, the event sink thread and one worker per receiver."""

    def __init__(
        self, store: Store, pipeline: Pipeline, notifiers: Mapping[str, GroupNotifier], *,
        interval_s: float, stop: threading.Event, sink: AlertEventSink | None = None,
        retention: RetentionSettings | None = None, restart_backoff_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.notifiers = notifiers
        self.sink = sink
        self.retention = retention or RetentionSettings()
        self.clock = clock
        self.interval_s = interval_s
        self._next_prune = float("-inf")
        self._sink = _SinkState()
        pipeline.dispatcher.stopping = stop.is_set

        def supervised(name: str, step: Callable[[], object]) -> Supervised:
            return Supervised(name, step, interval_s=interval_s, stop=stop,
                              restart_backoff_s=restart_backoff_s)

        self.router = supervised("route", self.route_step)
        self.workers = {name: supervised(f"receiver:{name}", self._send_step(name))
                        for name in notifiers}
        self.threads = [self.router, *self.workers.values()]
        if sink is not None:
            self.threads.append(supervised("events", self.events_step))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def wake(self) -> None:
        """New transitions: route them now instead of at the next poll."""
        self.router.wake.set()

    def join(self, timeout: float) -> None:
        """Wait for every thread's last pass (after ``stop`` was set), then close."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        for notifier in self.notifiers.values():
            notifier.close()
        if self.sink is not None:
            self.sink.close()

    # -- the loops ----------------------------------------------------------------------------

    def route_step(self) -> None:
        now = self.clock()
        try:
            added = self.pipeline.route(now) + self.pipeline.escalate(now)
            if added:
                for worker in self.workers.values():
                    worker.wake.set()
            self._prune(now)
        except sqlite3.OperationalError as exc:  # busy beyond the timeout: next round
            log.warning("alert store busy, routing retried: %s", exc)
        # Due rows need no routing (retries, group waits ending): workers poll on their own.

    def _send_step(self, receiver: str) -> Callable[[], None]:
        def step() -> None:
            try:
                while self.pipeline.dispatcher.run_once(receiver=receiver).sent:
                    pass  # keep going while there is a backlog
                self.pipeline.refresh(receiver, self.pipeline.clock())  # leases (Alertmanager)
            except sqlite3.OperationalError as exc:
                log.warning("alert store busy, delivery to %s retried: %s", receiver, exc)
        return step

    def events_step(self) -> None:
        assert self.sink is not None
        try:
            self.sink.drain(self.store)
            if self._sink.down:
                log.info("alert_events written again: InfluxDB is back")
                self._sink.down = False
        except SinkError as exc:
            if not self._sink.down:
                log.warning("alert_events not written yet (retried quietly): %s", exc)
                self._sink.down = True
        except sqlite3.OperationalError as exc:
            log.warning("alert store busy, alert_events retried: %s", exc)

    def _prune(self, now: float) -> None:
        """Retention, on the engine's clock (the rows' timestamps are on it: a replay of last
        winter keeps its alerts)."""
        r = self.retention
        if now < self._next_prune:
            return
        self._next_prune = now + r.interval_s

        def before(days: float | None) -> float | None:
            return None if days is None else now - days * DAY

        pruned = self.store.prune(
            outbox_before=before(r.outbox_days), events_before=before(r.events_days),
            alerts_before=before(r.alerts_days),
            events_upto_id=self.store.cursor(CURSOR) if self.sink is not None else None,
        )
        for table in ("outbox", "events", "alerts", "group_timers"):
            if n := getattr(pruned, table):
                PRUNED.labels(table).inc(n)
        if pruned.outbox or pruned.events or pruned.alerts:
            log.info("retention: deleted %d outbox rows, %d events, %d resolved alerts",
                     pruned.outbox, pruned.events, pruned.alerts)

    # -- health -------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): every thread in its loop, and the routing thread has passed
        recently (it never waits on the network, so a stale pass means it is stuck)."""
        now = time.time()
        threads = {t.name: t.health(now) for t in self.threads}
        stale = max(60.0, 10 * self.interval_s)
        ok = all(t["up"] for t in threads.values()) and (
            threads["route"]["last_pass_age_s"] < stale)
        return ok, {"status": "ok" if ok else "failing", "threads": threads}
