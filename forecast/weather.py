"""Outdoor-temperature forecasts per zone, as every source delivers them and the predictor reads.

A :class:`WeatherForecast` is one issue of one source for one zone: hourly points from the
issue time onward. The :class:`ForecastBook` keeps the issues it is given so that the live
predictor asks for the newest one and a backtest asks for the one that was known at a past
instant (never a later issue: that would let the backtest see the future).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SOURCES", "ForecastBook", "ForecastPoint", "WeatherForecast"]

# Where a forecast came from; stored as the `source` tag of measurement weather_forecast.
SOURCES = ("mqtt", "open-meteo", "sim")


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """The forecast outdoor temperature (°C) at one target time ``at`` (epoch s)."""

    at: float
    outdoor_temp: float


@dataclass(frozen=True, slots=True)
class WeatherForecast:
    """One issue of a forecast for a zone. Points are checked here, once, so every reader can
    rely on them: at least one, strictly increasing times, finite values."""

    zone: str
    issued_at: float
    source: str
    points: tuple[ForecastPoint, ...]

    def __post_init__(self) -> None:
        if not self.zone:
            raise ValueError("forecast zone is empty")
        if not math.isfinite(self.issued_at):
            raise ValueError(f"forecast issued_at is not finite: {self.issued_at}")
        if not self.points:
            raise ValueError(f"forecast for zone {self.zone!r} has no points")
        previous = -math.inf
        for i, p in enumerate(self.points):
            if not (math.isfinite(p.at) and math.isfinite(p.outdoor_temp)):
                raise ValueError(f"forecast point {i} is not finite: {p}")
            if p.at <= previous:
                raise ValueError(f"forecast point {i} at {p.at} is not after the previous one")
            previous = p.at

    @property
    def start(self) -> float:
        return self.points[0].at

    @property
    def end(self) -> float:
        return self.points[-1].at

    def at(self, t: float) -> float | None:
        """Linear interpolation between the hourly points; None outside the forecast, since
        extrapolating a temperature trend for hours is worse than admitting we do not know."""
        pts = self.points
        if t < pts[0].at or t > pts[-1].at:
            return None
        i = bisect.bisect_left(pts, t, key=lambda p: p.at)
        if pts[i].at == t:
            return pts[i].outdoor_temp
        a, b = pts[i - 1], pts[i]
        return a.outdoor_temp + (b.outdoor_temp - a.outdoor_temp) * (t - a.at) / (b.at - a.at)

    def lead_h(self, point: ForecastPoint) -> float:
        """How far ahead of the issue this point was forecast, in hours (stored as lead_h)."""
        return (point.at - self.issued_at) / 3600.0

    def from_time(self, t: float) -> WeatherForecast | None:
        """The same issue without the points before ``t`` (None if nothing is left)."""
        kept = tuple(p for p in self.points if p.at >= t)
        if not kept:
            return None
        return WeatherForecast(self.zone, self.issued_at, self.source, kept)


class ForecastBook:
    """The forecasts known per zone, ordered by issue time; thread-safe (the MQTT thread and the
    HTTP poller put, the engine reads).

    ``keep_s``: issues older than this behind the newest one of their zone are dropped, so a
    service running for months keeps a bounded history; None keeps everything (backtests).
    Two issues of a zone with the same ``issued_at`` are one issue: the later put replaces it
    (a retained message seen again after a reconnect, a poll that returned the same run).
    """

    def __init__(self, keep_s: float | None = 48 * 3600.0) -> None:
        if keep_s is not None and keep_s < 0:
            raise ValueError("keep_s must be >= 0")
        self._keep_s = keep_s
        self._lock = threading.Lock()
        self._issues: dict[str, list[WeatherForecast]] = {}

    def put(self, f: WeatherForecast) -> None:
        with self._lock:
            issues = self._issues.setdefault(f.zone, [])
            i = bisect.bisect_left(issues, f.issued_at, key=lambda x: x.issued_at)
            if i < len(issues) and issues[i].issued_at == f.issued_at:
                issues[i] = f
            else:
                issues.insert(i, f)
            if self._keep_s is not None:
                oldest = issues[-1].issued_at - self._keep_s
                cut = bisect.bisect_left(issues, oldest, key=lambda x: x.issued_at)
                del issues[:cut]

    def put_all(self, forecasts: Iterable[WeatherForecast]) -> None:
        for f in forecasts:
            self.put(f)

    def latest(self, zone: str) -> WeatherForecast | None:
        """The newest issue for ``zone`` (by issue time, not by arrival)."""
        with self._lock:
            issues = self._issues.get(zone)
            return issues[-1] if issues else None

    def as_known_at(self, zone: str, t: float) -> WeatherForecast | None:
        """The newest issue for ``zone`` issued at or before ``t``: what a predictor running at
        ``t`` would have had. Its points are not cut at ``t`` (use ``from_time``)."""
        with self._lock:
            issues = self._issues.get(zone)
            if not issues:
                return None
            i = bisect.bisect_right(issues, t, key=lambda x: x.issued_at)
            return issues[i - 1] if i else None

    def zones(self) -> list[str]:
        with self._lock:
            return sorted(z for z, issues in self._issues.items() if issues)

    def issues(self, zone: str) -> list[WeatherForecast]:
        """Every kept issue of ``zone``, oldest first (a copy)."""
        with self._lock:
            return list(self._issues.get(zone, ()))
