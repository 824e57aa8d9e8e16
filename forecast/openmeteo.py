"""The HTTP forecast provider: Open-Meteo's ``/v1/forecast`` JSON (https://open-meteo.com/en/docs).

We ask for one hourly variable, ``temperature_2m`` (°C at 2 m), ``forecast_hours`` ahead, and
read the documented response fields ``hourly.time``, ``hourly.temperature_2m``,
``hourly_units``, ``utc_offset_seconds`` and ``timezone``. ``hourly.time`` is local time of the
response's ``timezone`` without an offset (``"2026-12-07T06:00"``), so UTC is that minus
``utc_offset_seconds``; with ``timeformat=unixtime`` the times are epoch seconds in UTC. Open-Meteo
does not say when its model ran, so a forecast is issued when we fetched it.

Any server answering the same format works (a self-hosted Open-Meteo, a proxy, the test's
loopback server). A bad answer is a counted, logged rejection; the poll is retried with a
doubling delay, then given up until the next poll; the service never stops for it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from forecast.metrics import FETCH_FAILURES, REJECTED
from forecast.settings import OpenMeteoSettings
from forecast.weather import ForecastPoint, WeatherForecast
from forecast.wire import TEMP_MAX, TEMP_MIN, ForecastRejected

__all__ = ["SOURCE", "FetchFailed", "OpenMeteoPoller", "fetch", "parse_open_meteo", "query"]

log = logging.getLogger(__name__)
SOURCE = "open-meteo"
_LOCAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


class FetchFailed(RuntimeError):
    """Every attempt of one poll failed; the message says how the last one did."""


def query(settings: OpenMeteoSettings) -> dict[str, str]:
    """The request's query parameters (documented ones only)."""
    return {
        "latitude": f"{settings.latitude:.4f}",
        "longitude": f"{settings.longitude:.4f}",
        "hourly": "temperature_2m",
        "forecast_hours": str(settings.forecast_hours),
        "timezone": "GMT",
        "temperature_unit": "celsius",
    }


def _time(i: int, value: object, offset: int) -> float:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # timeformat=unixtime: already UTC
    if isinstance(value, str):
        for fmt in _LOCAL_TIME_FORMATS:
            try:
                local = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            return local.timestamp() - offset
    raise ForecastRejected("bad_timestamp",
                           f"hourly.time[{i}] is not local ISO 8601 (like 2026-12-07T06:00) "
                           "or epoch seconds")


def parse_open_meteo(doc: Any, zone: str, issued_at: float) -> WeatherForecast:
    """A decoded response as a forecast issued at ``issued_at`` (hours before the issue's hour
    are dropped: they are analysis, not forecast), or :class:`ForecastRejected`."""
    if not isinstance(doc, dict):
        raise ForecastRejected("not_an_object", "the response must be a JSON object")
    if doc.get("error") is True:
        raise ForecastRejected("provider_error", str(doc.get("reason", "no reason given"))[:200])
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict):
        raise ForecastRejected("missing_field", "hourly is missing or not an object")
    times, temps = hourly.get("time"), hourly.get("temperature_2m")
    if not isinstance(times, list) or not isinstance(temps, list):
        raise ForecastRejected("missing_field", "hourly.time and hourly.temperature_2m must be "
                               "arrays")
    if len(times) != len(temps):
        raise ForecastRejected("bad_field", f"hourly.time has {len(times)} entries, "
                               f"hourly.temperature_2m {len(temps)}")
    unit = (doc.get("hourly_units") or {}).get("temperature_2m", "°C")
    if unit != "°C":
        raise ForecastRejected("bad_field", f"temperature_2m unit {unit!r}, expected °C"[:200])
    offset = doc.get("utc_offset_seconds")
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 18 * 3600:
        raise ForecastRejected("bad_field", "utc_offset_seconds must be an integer within ±18 h")
    first_hour = math.floor(issued_at / 3600.0) * 3600.0
    points: list[ForecastPoint] = []
    for i, (raw_t, temp) in enumerate(zip(times, temps, strict=True)):
        at = _time(i, raw_t, offset)
        if points and at <= points[-1].at:
            raise ForecastRejected("not_increasing", f"hourly.time[{i}] is not after the "
                                   "previous entry")
        if at < first_hour or temp is None:  # the past, or beyond the model's horizon
            continue
        if isinstance(temp, bool) or not isinstance(temp, int | float):
            raise ForecastRejected("bad_field", f"hourly.temperature_2m[{i}] is not a number")
        if not TEMP_MIN <= temp <= TEMP_MAX:
            raise ForecastRejected("out_of_range", f"hourly.temperature_2m[{i}] {temp} outside "
                                   f"{TEMP_MIN:g}..{TEMP_MAX:g}")
        points.append(ForecastPoint(at, float(temp)))
    if not points:
        raise ForecastRejected("no_points", "no forecast hours from the issue time on")
    return WeatherForecast(zone, issued_at, SOURCE, tuple(points))


def _attempt(client: httpx.Client, settings: OpenMeteoSettings, now: float) -> WeatherForecast:
    """One request; :class:`ForecastRejected` for an answer we cannot use, httpx errors as
    they come."""
    resp = client.get(settings.url, params=query(settings), timeout=settings.timeout_s)
    if resp.status_code != 200:
        detail = resp.text[:200].replace("\n", " ")
        raise ForecastRejected("http_status", f"HTTP {resp.status_code}: {detail}")
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError as exc:
        raise ForecastRejected("invalid_json", str(exc)[:200]) from None
    return parse_open_meteo(doc, settings.zone, now)


def fetch(
    client: httpx.Client, settings: OpenMeteoSettings, *,
    clock: Callable[[], float] = time.time, stop: threading.Event | None = None,
) -> WeatherForecast:
    """One poll with its retries (``retries`` more attempts, waits of ``retry_delay_s``
    doubling); every failed attempt is counted and logged. :class:`FetchFailed` when all
    failed (or ``stop`` was set while waiting)."""
    stop = stop if stop is not None else threading.Event()
    delay = settings.retry_delay_s
    last = "no attempt"
    for attempt in range(settings.retries + 1):
        if attempt:
            if stop.wait(delay):
                break
            delay *= 2
        try:
            return _attempt(client, settings, clock())
        except ForecastRejected as exc:
            REJECTED.labels(source=SOURCE, reason=exc.reason).inc()
            last = str(exc)
        except httpx.HTTPError as exc:
            REJECTED.labels(source=SOURCE, reason="unreachable").inc()
            last = f"unreachable: {exc!r}"[:300]
        log.warning("open-meteo zone %s: attempt %d of %d failed: %s", settings.zone,
                    attempt + 1, settings.retries + 1, last)
    FETCH_FAILURES.labels(zone=settings.zone).inc()
    raise FetchFailed(f"open-meteo zone {settings.zone}: {last}")


class OpenMeteoPoller:
    """Polls every configured zone on its own schedule in one thread: a zone is due
    ``interval_s`` after its previous poll started, the first poll is at start."""

    def __init__(
        self, zones: list[OpenMeteoSettings], deliver: Callable[[WeatherForecast], None], *,
        clock: Callable[[], float] = time.time, client: httpx.Client | None = None,
    ) -> None:
        self._zones = zones
        self._deliver = deliver
        self._clock = clock
        self._client = client if client is not None else httpx.Client(
            headers={"User-Agent": "heatwatch-forecast"}, follow_redirects=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="forecast-open-meteo",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def poll_once(self) -> list[WeatherForecast]:
        """Every zone now (``heatwatch forecast fetch``); failed zones are logged, skipped."""
        out = []
        for zone in self._zones:
            try:
                out.append(fetch(self._client, zone, clock=self._clock, stop=self._stop))
            except FetchFailed as exc:
                log.error("%s; giving up until the next poll", exc)
        return out

    def _run(self) -> None:
        due = {z.zone: 0.0 for z in self._zones}  # monotonic times
        while not self._stop.is_set():
            now = time.monotonic()
            for zone in self._zones:
                if due[zone.zone] > now:
                    continue
                due[zone.zone] = now + zone.interval_s
                try:
                    self._deliver(fetch(self._client, zone, clock=self._clock, stop=self._stop))
                except FetchFailed as exc:
                    log.error("%s; giving up until the next poll", exc)
                if self._stop.is_set():
                    return
            self._stop.wait(max(0.05, min(due.values()) - time.monotonic()))
