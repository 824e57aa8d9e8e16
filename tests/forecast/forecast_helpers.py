"""Forecasts and InfluxDB access for the forecast input tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts.history import HistorySource
from alerts.notify.influx import AlertEventSink
from forecast.weather import ForecastPoint, WeatherForecast
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings

H = 3600.0
T0 = 1796601600.0  # 2026-12-07T00:00:00Z


def issue(zone: str, issued_at: float, temps: Sequence[float], source: str = "mqtt"
          ) -> WeatherForecast:
    """Hourly points from the first whole hour after the issue."""
    first = (issued_at // H + 1) * H
    return WeatherForecast(zone, issued_at, source, tuple(
        ForecastPoint(first + i * H, float(t)) for i, t in enumerate(temps)))


def influx_settings(influx: InfluxServer, database: str) -> InfluxSettings:
    return InfluxSettings(url=influx.url, database=database)


def writer(influx: InfluxServer, database: str) -> Callable[[list[str]], int]:
    """The alerts service's line-protocol writer (what it hands the forecast input)."""
    return AlertEventSink(influx_settings(influx, database)).write_lines


def querier(influx: InfluxServer, database: str
            ) -> Callable[[str, Mapping[str, Any]], Sequence[Any]]:
    return HistorySource(influx_settings(influx, database)).query
