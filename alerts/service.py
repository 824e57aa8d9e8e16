"""``heatwatch alerts``: the live loop around the engine.

Threads, each with one job, so a slow webhook never delays evaluation or another receiver,
and a flood of readings never delays a page:

* paho's network thread only timestamps each message (arrival time = liveness) and queues it;
* the engine thread decodes, observes, and evaluates every ``evaluate_interval_s`` - the engine
  is single-threaded by design, so nothing else touches it;
* the delivery threads (:mod:`alerts.notify.workers`, each supervised: a crash is logged,
  counted and restarted) route and group the SQLite outbox, deliver it with one worker per
  receiver, drain the event log (InfluxDB ``alert_events``) and prune old rows, through their
  own store connection. ``/healthz`` next to ``/metrics`` shows their state.

The inbox is the collector's (:class:`heatwatch.mqtt_source.MqttSource`): a persistent QoS 1
session under a fixed client id, manual acks, a queue bounded in messages and bytes
(``inbox:``), and paused socket reads when it is full. A message is acked once the engine has
observed it, so an engine that stalls (a slow evaluation, a store held by another process)
leaves the rest queued at the broker instead of growing the process's memory, and one that
is restarted gets what arrived meanwhile. Retained ``status`` messages arrive on subscribe and
tell the engine at once which gateways are offline.

``clock: event`` (replays, accelerated simulator runs) replaces the wall clock by event time
(:class:`EventClock`): "now" follows the readings' own timestamps, evaluations run at every
``evaluate_interval_s`` of event time, liveness is judged on event time, and when the input
stops, time stands still (nothing is evaluated until readings come again).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from alerts.config import load_rules
from alerts.engine import Engine
from alerts.history import HistorySource, HistoryUnavailable
from alerts.metrics import AlertMetrics
from alerts.notify.channels import build_notifiers
from alerts.notify.delivery import Pipeline
from alerts.notify.influx import AlertEventSink, SinkError
from alerts.notify.workers import Delivery
from alerts.routing import ROUTE_INBOX
from alerts.rules.cold_predicted import Cycle
from alerts.settings import AlertsSettings
from alerts.store import Store
from alerts.warmup import WarmupReport, warm_up
from forecast.cycle import ForecastCycle, Refitter
from forecast.inputs import ForecastInput
from forecast.settings import load_forecast_settings
from forecast.weather import ForecastBook
from heatwatch.mqtt_source import Inbound, MqttSource, topic_filters
from heatwatch.registry import load_registry
from heatwatch.selfstats import SelfStatsReporter
from heatwatch.settings import ConfigError, derived_client_id
from heatwatch.wire import Decoder, Reading
from heatwatch.wirefields import Kind
from households.closer import DayCloser
from households.compute import LedgerReadError
from households.config import load_comfort

__all__ = ["AlertsService", "EventClock"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class _Connection:
    connected: bool
    at: float


class EventClock:
    """Event time from the readings themselves: the k-th latest of the stations' newest
    reading timestamps, k = ``quorum`` but at most half of the stations seen so far (rounded
    up), never going back.

    With k = 1 this is the newest timestamp seen; a larger k keeps a station whose clock runs
    ahead (it happens: ``clock_skew``) from dragging every other station's time forward, which
    would make them all look late. Stations behind (slow clocks, late messages, dead
    stations) do not hold time back, as long as k stations report: at most half of them, so a
    silent station never stops the clock of a small fleet. O(log n) per reading: a min-heap of
    the stations ahead of "now" (fewer than k of them after each update).
    """

    def __init__(self, quorum: int = 3) -> None:
        self.quorum = quorum
        self.now = -math.inf
        self._latest: dict[str, float] = {}
        self._ahead: list[tuple[float, str]] = []  # (latest, station); stale entries skipped
        self._n_ahead = 0

    @property
    def started(self) -> bool:
        return self.now > -math.inf

    def advance(self, station: str, ts: float) -> float:
        """Account for one reading of ``station`` stamped ``ts``; returns the new "now"."""
        old = self._latest.get(station)
        if old is not None and ts <= old:
            return self.now
        self._latest[station] = ts
        if ts > self.now:
            if old is None or old <= self.now:
                self._n_ahead += 1
            heapq.heappush(self._ahead, (ts, station))
        k = min(self.quorum, (len(self._latest) + 1) // 2)
        while self._n_ahead >= k:
            t0, st = heapq.heappop(self._ahead)
            if self._latest[st] != t0:
                continue  # superseded by a newer reading of the same station
            self.now = t0
            self._n_ahead -= 1
        return self.now


# Until the first reading gives event time, the decoder's future check has nothing to compare
# with (a finite value: it computes nanoseconds from it).
_NO_TIME_YET = 1e12


class AlertsService:
    def __init__(
        self, settings: AlertsSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.event: EventClock | None = None
        self._now = 0.0  # event time the engine has been told (event mode)
        self._held: list[_Message | _Connection] = []  # before event time is known
        self._next_eval: float | None = None
        if settings.clock == "event":
            self.event = EventClock(settings.event_time.quorum)
            clock = self._event_now
        self.clock = clock
        rules = load_rules(settings.rules)
        self.inhibit = rules.inhibit
        # read at start, so a bad comfort file stops the service with the other config errors
        self.comfort = load_comfort(settings.comfort.file) if settings.comfort.enabled else None
        self.delivery: Delivery | None = None
        self.metrics = AlertMetrics()
        self.store = Store(settings.state_db)
        self.engine = Engine(
            rules, self.store, clock, registry=load_registry(settings.registry),
            # one row per notifiable transition; the delivery thread routes it to receivers
            receivers=(ROUTE_INBOX,) if settings.notifications.receiver_names() else (),
        )
        self.decoder = Decoder(
            prefix=settings.mqtt.prefix, max_future_s=settings.max_future_s,
            clock=clock if self.event is None else self._decoder_now,
        )
        self.connected = threading.Event()
        self._stop = threading.Event()
        i = settings.inbox
        self.source = MqttSource(
            settings.mqtt, filters=topic_filters(settings.mqtt.prefix, None),
            receive_maximum=i.max_messages, max_queued_bytes=i.max_bytes,
            protocol=i.protocol, session_expiry=i.session_expiry,
            on_connection=self._on_connection,
        )
        self.inbox = self.source.queue  # received, not yet observed (bounded)
        # Broker (dis)connects, from the network thread; observed before the next message.
        self._connections: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self._unacked: list[Inbound] = []  # observed since the last ack
        # Weather forecasts per zone, filled by their own threads (None: no forecast file).
        self.forecast_book: ForecastBook | None = None
        self._forecast: ForecastInput | None = None
        self.forecast_cycle: ForecastCycle | None = None  # cold_predicted's predictions
        self._forecast_pool: ThreadPoolExecutor | None = None
        self._forecast_job: Future[Cycle | None] | None = None
        self._refitter: Refitter | None = None
        if settings.forecast is not None:
            self._forecast = self._forecast_input(settings.forecast)

    # -- MQTT (network thread) -------------------------------------------------------------

    def _on_connection(self, up: bool) -> None:
        self._connections.put(_Connection(up, self.clock()))
        if up:
            self.connected.set()
            log.info("alert engine connected to MQTT %s:%d", self.settings.mqtt.host,
                     self.settings.mqtt.port)
        else:
            self.connected.clear()
            log.warning("alert engine lost MQTT; reconnecting")

    # -- engine thread ---------------------------------------------------------------------

    def _next(self, timeout: float) -> _Message | _Connection:
        """The next connection change or message (``queue.Empty`` after ``timeout``); a
        message's arrival time is when the engine takes it (the queue is short)."""
        with contextlib.suppress(queue.Empty):
            return self._connections.get_nowait()
        try:
            msg = self.source.get(timeout)
        except queue.Empty:
            # A (dis)connect that came while we waited is seen before the next evaluation:
            # while disconnected the engine holds back station_offline (the broker fires
            # every gateway's will when it shuts down).
            return self._connections.get_nowait()
        self._unacked.append(msg)
        return _Message(msg.topic, msg.payload, self.clock())

    def _ack(self, *, force: bool = False) -> None:
        """Ack what the engine observed: in batches, and whenever the inbox runs dry."""
        if self._unacked and (force or len(self._unacked) >= 64 or self.inbox.empty()):
            self.source.ack(self._unacked)
            self._unacked = []

    def _take(self, timeout: float) -> None:
        with contextlib.suppress(queue.Empty):
            self.handle(self._next(timeout))
            self._ack()

    def handle(self, item: _Message | _Connection) -> None:
        if self.event is not None:
            self._handle_event_time(item)
            return
        if isinstance(item, _Connection):
            self.engine.observe_input(item.connected, item.at)
            return
        for reading in self._decode(item):
            self.engine.observe(reading, item.received_at)

    def _decode(self, item: _Message) -> list[Reading]:
        decoded = self.decoder.decode(item.topic, item.payload)
        self.metrics.readings.inc(len(decoded.readings))
        if decoded.rejections:
            self.metrics.rejected.inc(len(decoded.rejections))
        return decoded.readings

    # -- event time (clock: event) ---------------------------------------------------------

    def _event_now(self) -> float:
        return self._now

    def _decoder_now(self) -> float:
        return self._now if self._next_eval is not None else _NO_TIME_YET

    def _handle_event_time(self, item: _Message | _Connection) -> None:
        """One message on event time: evaluate every tick it moves "now" past (so a tick sees
        exactly the readings stamped before it, as the in-process replay does), then observe
        it as arriving "now". Statuses and connection changes carry no time of their own:
        they happen at the current event time, and are held until the first reading sets it.
        """
        assert self.event is not None
        if isinstance(item, _Connection):
            if self._next_eval is None:
                self._held.append(item)
            else:
                self.engine.observe_input(item.connected, self._now)
            return
        if self._next_eval is None and item.topic.endswith("/status"):
            self._held.append(item)  # a status before any reading: wait for time
            return
        readings = self._decode(item)
        now = self.event.now
        for r in readings:
            if r.kind is not Kind.STATUS:
                now = self.event.advance(r.station, r.ts_ns / 1e9)
        if self._next_eval is None:
            if not self.event.started:  # nothing usable yet
                return
            self._start_event_time(now)
        self._tick_to(now)
        for r in readings:
            self.engine.observe(r, self._now)

    def _start_event_time(self, now: float) -> None:
        self._now = now
        self._next_eval = now
        held, self._held = self._held, []
        for item in held:  # retained statuses and the connection, stamped with the start
            if isinstance(item, _Connection):
                self.engine.observe_input(item.connected, now)
            else:
                for r in self._decode(item):
                    self.engine.observe(r, now)

    def _tick_to(self, now: float) -> None:
        assert self._next_eval is not None
        step = self.settings.evaluate_interval_s
        behind = (now - self._next_eval) // step
        if behind > self.settings.event_time.max_catch_up:  # a jump: evaluate at its end
            self._next_eval += behind * step
        while self._next_eval <= now:
            self._now = self._next_eval
            self._evaluate(self._now)
            self._next_eval += step
        self._now = max(self._now, now)

    def _evaluate(self, now: float) -> None:
        with self.metrics.evaluate.time():
            events = self.engine.evaluate(now)
        if events:
            self._wake()
            self._count_firing()

    def run(self) -> int:
        """Run until :meth:`stop`; returns the exit code.

        A store error during evaluation is not caught: the engine's memory would then be ahead
        of the database, and crashing (the supervisor restarts us from the database) is the
        only way back to a state where every transition is recorded exactly once.
        """
        s = self.settings
        delivery = self.delivery = self._delivery()
        httpd = self._serve_metrics() if s.metrics.port else None
        selfstats = self._selfstats()
        self.source.start()
        self.warm_up()  # live messages queue meanwhile and are observed after the history
        delivery.start()
        days = self._comfort_days()
        if self._forecast is not None:
            self._forecast.start()
        refits = self._refits()
        next_eval = self.clock()
        try:
            while self.event is not None and not self._stop.is_set():
                # event time: only messages move the clock; no input, no time passes
                self._take(0.5)
            while not self._stop.is_set():
                now = self.clock()
                if now >= next_eval:  # evaluation is never starved by a busy inbox
                    self._forecast_cycle(now)
                    with self.metrics.evaluate.time():
                        if self.engine.evaluate(now):
                            self._wake()
                    self._count_firing()
                    next_eval = now + s.evaluate_interval_s
                    continue
                self._take(min(next_eval - now, 0.5))
        finally:
            self._stop.set()
            if selfstats is not None:
                selfstats.stop(final_report=True)
            self._ack(force=True)
            self.source.stop()  # the session stays: what arrives meanwhile waits at the broker
            delivery.join(timeout=30)
            if days is not None:
                days.join(timeout=30)
            if self._forecast is not None:
                self._forecast.stop()
            if refits is not None:
                refits.join(timeout=30)
            if self._forecast_pool is not None:
                self._forecast_pool.shutdown(wait=True, cancel_futures=True)
            delivery.store.close()
            if httpd is not None:
                httpd.shutdown()
                httpd.server_close()
            self.store.close()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def _wake(self) -> None:
        """An evaluation made transitions: route and send them at once instead of at the
        delivery threads' next poll (up to notifications.interval_s later)."""
        if self.delivery is not None:
            self.delivery.wake()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for ``/healthz``: the delivery threads' state."""
        if self.delivery is None:
            return False, {"status": "starting"}
        ok, details = self.delivery.health()
        return ok, {**details, "mqtt_connected": self.connected.is_set()}

    def _serve_metrics(self) -> WSGIServer:
        """``/metrics`` (Prometheus) and ``/healthz`` (200, or 503 while a delivery thread is
        down or stuck; JSON body with each thread's state) on ``metrics.host:port``."""
        metrics = make_wsgi_app(self.metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                ok, body = self.health()
                data = json.dumps(body).encode()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
                return [data]
            return metrics(environ, start_response)  # type: ignore[no-any-return]

        m = self.settings.metrics
        httpd = make_server(m.host, m.port, app, _ThreadingWSGIServer, _QuietHandler)
        threading.Thread(target=httpd.serve_forever, name="alerts-metrics", daemon=True).start()
        return httpd

    def _selfstats(self) -> SelfStatsReporter | None:
        """Copy this process's Prometheus counters into ``heatwatch_internal`` for Grafana's
        pipeline-health dashboard; a failed write only thins the graph (counters add up)."""
        s = self.settings
        if not s.metrics.selfstats_interval:
            return None
        reporter = SelfStatsReporter(
            self.metrics.registry, self._influx_writer().write_lines, service="alerts",
            instance=s.mqtt.client_id, interval=s.metrics.selfstats_interval,
            errors=(SinkError,),
        )
        reporter.start()
        return reporter

    def _influx_writer(self) -> AlertEventSink:
        return AlertEventSink(self.settings.influx)

    def warm_up(self) -> WarmupReport | None:
        """Fill the engine's windows from InfluxDB before its first evaluation
        (``alerts/warmup.py``); None when ``warmup.enabled`` is off. Never raises for an
        InfluxDB that is down: the engine then starts cold."""
        w = self.settings.warmup
        if not w.enabled:
            return None
        source = HistorySource(self.settings.influx, timeout=w.timeout_s)
        try:
            return warm_up(self.engine, source, self.clock(), lookback_s=w.lookback_s,
                           latest_s=w.latest_s, page=w.page, stuck=w.stuck_sensor)
        finally:
            source.close()

    def _comfort_days(self) -> threading.Thread | None:
        """The comfort ledger's day-close hook (``households/closer.py``) in its own thread:
        it reads and writes InfluxDB only, never the engine, so it cannot delay an evaluation.
        """
        if self.comfort is None:
            return None
        closer = DayCloser(HistorySource(self.settings.influx).query,
                           self._influx_writer().write_lines, self.engine.registry,
                           self.engine.rules, self.comfort, self.settings.comfort,
                           errors=(HistoryUnavailable, SinkError, LedgerReadError))
        thread = threading.Thread(target=closer.run, args=(self.clock, self._stop),
                                  name="comfort-days", daemon=True)
        thread.start()
        return thread

    def _forecast_cycle(self, now: float) -> None:
        """Every ``model.cycle_s``: copy what the prediction needs from the engine's fleet
        (here, in the engine's thread), predict in the forecast thread (a city's cycle is
        seconds of CPU: evaluation must not wait for it), and hand the finished cycle's risks
        to the engine (``cold_predicted``) at the next pass."""
        cycle = self.forecast_cycle
        if cycle is None:
            return
        running = self._forecast_job
        if running is not None:
            if not running.done():
                return
            self._forecast_job = None
            try:
                risks = running.result()
            except (OSError, ValueError, ArithmeticError) as exc:  # a bad cycle, not a crash
                log.error("forecast: cycle failed: %s", exc)
                risks = None
            if risks is not None:
                self.engine.observe_forecast(risks)
        if not cycle.due(now):
            return
        snap = cycle.snapshot(now, self.engine.fleet)
        if snap is not None:
            if self._forecast_pool is None:
                self._forecast_pool = ThreadPoolExecutor(1, thread_name_prefix="forecast")
            self._forecast_job = self._forecast_pool.submit(cycle.compute, snap)

    def _forecast_write(self, lines: list[str]) -> None:
        """Predictions to InfluxDB; a failed write is logged and the cycle goes on (the next
        one writes a newer prediction anyway)."""
        try:
            self._influx_writer().write_lines(lines)
        except SinkError as exc:
            log.error("forecast: indoor_forecast not written: %s", exc)

    def _refits(self) -> threading.Thread | None:
        """The models' refresh (``model.refit_every_s``) in its own thread."""
        if self._refitter is None:
            return None
        thread = threading.Thread(target=self._refitter.run, args=(self.clock, self._stop),
                                  name="forecast-refit", daemon=True)
        thread.start()
        return thread

    def _forecast_input(self, path: Path) -> ForecastInput:
        """The forecast input (``forecast/inputs.py``): its own MQTT connection and threads,
        writing ``weather_forecast`` through the service's InfluxDB writer."""
        s = self.settings
        fs = load_forecast_settings(path)
        if fs.store.enabled and s.influx.transport != "v1":
            raise ConfigError(f"{path}: store.enabled writes weather_forecast through the "
                              "/write API: it needs influx.transport v1 (or store.enabled: "
                              "false)")
        self.forecast_book = ForecastBook(keep_s=fs.keep_s)
        if fs.model.enabled:
            self.forecast_cycle = ForecastCycle(fs.model, self.engine.rules, self.forecast_book,
                                                self._forecast_write)
            self._refitter = Refitter(fs.model, self.engine.rules,
                                      lambda: HistorySource(s.influx))
        return ForecastInput(fs, self.forecast_book, mqtt_settings=s.mqtt,
                             client_id=derived_client_id(s.mqtt.client_id, "forecast"),
                             write=self._influx_writer().write_lines, write_errors=(SinkError,))

    def _count_firing(self) -> None:
        self.metrics.count_firing(self.engine.open_alerts())

    def run_forever(self) -> int:
        """:meth:`run` with SIGTERM/SIGINT stopping it cleanly."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            self.stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self.run()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- delivery threads ------------------------------------------------------------------

    def _delivery(self) -> Delivery:
        s = self.settings
        n = s.notifications
        store = Store(s.state_db)
        notifiers = build_notifiers(n)
        pipeline = Pipeline(store, n.route_table(), notifiers, self.clock, n.retry,
                            escalation_check_s=n.escalation_check_s, inhibit=self.inhibit,
                            fallback_receiver=n.fallback_receiver, breaker=n.breaker)
        return Delivery(store, pipeline, notifiers, interval_s=n.interval_s, stop=self._stop,
                        sink=self._influx_writer() if s.write_events else None,
                        retention=s.retention, restart_backoff_s=n.restart_backoff_s,
                        clock=self.clock)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes and probes every few seconds would drown the log
