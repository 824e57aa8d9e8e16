"""Weather forecasts of the simulated weather, with the errors a real forecast has.

A forecast issued at ``t`` covers the whole hours after ``t`` up to ``horizon_h``; each point
is the true temperature (``Weather.temperature``) plus ``bias_k`` plus a random walk over the
lead hours, so the error is smooth from hour to hour and its spread grows with the lead
(standard deviation ``noise_k_24h * sqrt(lead_h / 24)``). The draws are keyed by the seed and
the issue time only, so a real-time run, an accelerated replay and a benchmark asking for the
forecast of a given hour all see the same forecast, and never the future exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from forecast.weather import ForecastPoint, WeatherForecast
from forecast.wire import encode_forecast, forecast_topic
from simulators.payloads import Message
from simulators.scenario import ForecastSimConfig
from simulators.weather import Weather

__all__ = ["ForecastPublisher", "SimForecaster"]

_HOUR = 3600.0


class SimForecaster:
    """The forecast the simulated weather service issues at any instant (pure in (seed, t))."""

    def __init__(self, weather: Weather, cfg: ForecastSimConfig, seed: int) -> None:
        self.weather = weather
        self.cfg = cfg
        self.seed = seed

    def issue_times(self, start: float, end: float) -> list[float]:
        """Issue times in ``[start, end)``: multiples of ``interval_s`` since the epoch."""
        step = self.cfg.interval_s
        first = math.ceil(start / step) * step
        return [first + k * step for k in range(max(0, math.ceil((end - first) / step)))]

    def issue(self, zone: str, issued_at: float) -> WeatherForecast:
        """The forecast for ``zone`` issued at ``issued_at``. The city has one weather, so
        every zone gets the same forecast (and the same error) at the same issue time."""
        cfg = self.cfg
        first = math.floor(issued_at / _HOUR) * _HOUR + _HOUR
        hours = np.arange(cfg.horizon_h, dtype=float)
        at = first + hours * _HOUR
        lead_h = (at - issued_at) / _HOUR
        rng = np.random.default_rng([self.seed, 60493, int(issued_at)])
        # Steps of a random walk over lead: variance per hour noise_24h^2 / 24, the first step
        # scaled to its own (partial) lead.
        step_std = cfg.noise_k_24h / math.sqrt(24.0)
        widths = np.diff(np.concatenate(([0.0], lead_h)))
        error = cfg.bias_k + np.cumsum(rng.standard_normal(cfg.horizon_h) * step_std
                                       * np.sqrt(widths))
        points = tuple(ForecastPoint(float(a), round(self.weather.temperature(float(a))
                                                     + float(e), 2))
                       for a, e in zip(at, error, strict=True))
        return WeatherForecast(zone, issued_at, "sim", points)


class ForecastPublisher:
    """Retained forecast messages for every zone whenever an issue time has passed."""

    def __init__(self, forecaster: SimForecaster, zones: Sequence[str], prefix: str,
                 start: float) -> None:
        self.forecaster = forecaster
        self.zones = list(zones)
        self.prefix = prefix
        # The issue current at the start goes out at once: consumers need one from the start.
        step = forecaster.cfg.interval_s
        self._next = math.floor(start / step) * step
        self.published = 0

    def due(self, t: float) -> list[Message]:
        """Messages of the latest issue at or before ``t`` not yet sent (missed issues are
        skipped: a retained forecast replaces the previous one anyway)."""
        if t < self._next:
            return []
        step = self.forecaster.cfg.interval_s
        issued_at = self._next + math.floor((t - self._next) / step) * step
        self._next = issued_at + step
        out = []
        for zone in self.zones:
            payload = encode_forecast(self.forecaster.issue(zone, issued_at))
            out.append(Message(0, 0, 0.0, forecast_topic(self.prefix, zone), payload, True))
        self.published += len(out)
        return out
