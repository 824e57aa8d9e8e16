"""The forecast input as one component: MQTT subscription, Open-Meteo polls, book, storage.

The alerts service starts it when its ``forecast:`` file is set (the ``cold_predicted`` rule
reads the book in-process). Its threads only receive, decode and store; none of them touches
the engine:

* its own MQTT connection (clean session: forecasts are retained, so a (re)subscribe gets the
  current one of every zone) decodes each message on paho's network thread (a few dozen
  points) and puts the issue into the :class:`~forecast.weather.ForecastBook`;
* the Open-Meteo poller thread (:mod:`forecast.openmeteo`);
* a store thread writes every accepted issue to InfluxDB (``weather_forecast``), retrying
  while InfluxDB is down; its queue is bounded, and an issue that does not fit is dropped
  and counted, never blocking the receivers.

A bad message is a counted (``heatwatch_forecast_rejected_total``), logged rejection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from forecast.metrics import LATEST_ISSUE, RECEIVED, REJECTED, STORE_DROPPED, STORED
from forecast.openmeteo import OpenMeteoPoller
from forecast.settings import ForecastSettings
from forecast.store import forecast_lines
from forecast.weather import ForecastBook, WeatherForecast
from forecast.wire import ForecastRejected, decode_forecast, subscription
from heatwatch.mqtt import Handlers, MqttClient, make_client
from heatwatch.settings import MqttSettings

__all__ = ["ForecastInput"]

log = logging.getLogger(__name__)
STORE_QUEUE = 1000  # issues waiting for InfluxDB (a day of hourly issues for 40 zones)
_RETRY_MIN_S, _RETRY_MAX_S = 1.0, 60.0

WriteLines = Callable[[list[str]], Any]


class ForecastInput:
    """``write``: stores line protocol (raises one of ``write_errors`` when InfluxDB cannot
    take it now; may return how many lines it stored, fewer meaning InfluxDB refused them);
    None, or ``store.enabled: false``, stores nothing. ``mqtt_settings``: None means no MQTT
    input (whatever ``settings.mqtt.enabled`` says)."""

    def __init__(
        self, settings: ForecastSettings, book: ForecastBook, *,
        mqtt_settings: MqttSettings | None = None, client_id: str = "heatwatch-forecast",
        write: WriteLines | None = None, write_errors: tuple[type[Exception], ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.book = book
        self._mqtt_settings = mqtt_settings if settings.mqtt.enabled else None
        self._client_id = client_id
        self._write = write if settings.store.enabled else None
        self._write_errors = write_errors
        self._clock = clock
        self._stop = threading.Event()
        self._queue: queue.Queue[WeatherForecast] = queue.Queue(STORE_QUEUE)
        self._client: MqttClient | None = None
        self._poller: OpenMeteoPoller | None = None
        self._store_thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.stored_issues = 0

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._write is not None:
            self._store_thread = threading.Thread(target=self._store_loop,
                                                  name="forecast-store", daemon=True)
            self._store_thread.start()
        if self._mqtt_settings is not None:
            self._start_mqtt(self._mqtt_settings)
        if self.settings.open_meteo:
            self._poller = OpenMeteoPoller(list(self.settings.open_meteo), self.accept,
                                           clock=self._clock)
            self._poller.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.stop()
        if self._poller is not None:
            self._poller.stop(timeout)
        if self._store_thread is not None:
            self._store_thread.join(timeout)

    # -- receiving ----------------------------------------------------------------------------

    def accept(self, f: WeatherForecast) -> None:
        """A valid issue from any source: into the book, and queued for storage."""
        self.book.put(f)
        RECEIVED.labels(source=f.source).inc()
        newest = self.book.latest(f.zone)
        if newest is not None:
            LATEST_ISSUE.labels(zone=f.zone).set(newest.issued_at)
        log.info("forecast for zone %s from %s issued %s: %d hours", f.zone, f.source,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(f.issued_at)), len(f.points))
        if self._write is None:
            return
        try:
            self._queue.put_nowait(f)
        except queue.Full:
            STORE_DROPPED.labels(reason="queue_full").inc()
            log.error("forecast store queue full (InfluxDB down for long?): zone %s issue "
                      "kept in memory only", f.zone)

    def _start_mqtt(self, cfg: MqttSettings) -> None:
        # A clean session (the factory's default): forecasts are retained.
        self._client = make_client(
            cfg, Handlers(connected=self._on_connect, disconnected=self._on_disconnect,
                          message=self._on_message),
            client_id=self._client_id,
        )
        self._client.start()

    def _on_connect(self, session_present: bool) -> None:
        assert self._mqtt_settings is not None and self._client is not None
        self._client.paho.subscribe(subscription(self._mqtt_settings.prefix), qos=1)
        self.connected.set()

    def _on_disconnect(self, reason: str) -> None:
        self.connected.clear()

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            return  # an empty retained message clears the topic: nothing to decode
        assert self._mqtt_settings is not None
        m = self.settings.mqtt
        try:
            f = decode_forecast(msg.topic, bytes(msg.payload), prefix=self._mqtt_settings.prefix,
                                now=self._clock(), max_payload=m.max_payload,
                                max_points=m.max_points, max_future_s=m.max_future_s)
        except ForecastRejected as exc:
            REJECTED.labels(source="mqtt", reason=exc.reason).inc()
            log.warning("forecast rejected on %s: %s", msg.topic[:200], exc)
            return
        self.accept(f)

    # -- storing ------------------------------------------------------------------------------

    def _store_loop(self) -> None:
        assert self._write is not None
        delay = _RETRY_MIN_S
        pending: WeatherForecast | None = None
        while True:
            if pending is None:
                try:
                    pending = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
            lines = forecast_lines(pending)
            try:
                written = self._write(lines)
            except self._write_errors as exc:
                log.warning("forecast store: InfluxDB cannot take zone %s's issue now (%s); "
                            "retrying in %.0f s", pending.zone, exc, delay)
                if self._stop.wait(delay):
                    STORE_DROPPED.labels(reason="stopped").inc(1 + self._queue.qsize())
                    return
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            if isinstance(written, int) and written < len(lines):
                # InfluxDB refused the lines themselves (the writer counted and logged how);
                # sending them again cannot help.
                STORE_DROPPED.labels(reason="refused").inc()
                log.error("forecast store: InfluxDB refused %d of %d points of zone %s's issue",
                          len(lines) - written, len(lines), pending.zone)
            else:
                STORED.inc(len(lines))
                self.stored_issues += 1
            pending, delay = None, _RETRY_MIN_S
