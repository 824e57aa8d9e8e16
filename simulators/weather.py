"""Outdoor temperature: climate mean + smooth multi-day anomaly + cold waves + daily cycle.

Every component is a pure function of (seed, time): random draws are keyed by the local day
number, not by how far a run has progressed. That keeps a real-time run that has been going for
a week and an accelerated replay of the same week on exactly the same weather, and lets any
process (alert benchmark, tests) ask for the temperature at an arbitrary instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulators.scenario import WeatherConfig, resolve_when

__all__ = ["Weather"]

_DAY = 86400.0
_MA_TAPS = 8  # days of memory in the anomaly's moving-average filter
_WAVE_LOOKBACK = 10  # days a random cold wave can still be felt
_T_MIN_H, _T_MAX_H = 6.5, 14.5  # local hours of the daily minimum and maximum


@dataclass(frozen=True, slots=True)
class _Wave:
    start: float
    duration: float
    depth: float


def _wave_shape(dt: float, wave: _Wave) -> float:
    """Depth fraction of a cold wave ``dt`` s after its start.

    A front arrives quickly (12 h to full depth) and the cold air mass erodes slowly
    (a day and a half to recover), which is what Shenyang's winter records look like.
    """
    onset, recovery = 12 * 3600.0, 36 * 3600.0
    if dt < 0:
        return 0.0
    if dt < onset:
        return 0.5 - 0.5 * math.cos(math.pi * dt / onset)
    if dt < wave.duration:
        return 1.0
    after = dt - wave.duration
    if after < recovery:
        return 0.5 + 0.5 * math.cos(math.pi * after / recovery)
    return 0.0


class Weather:
    """City-wide outdoor temperature (°C) at any epoch second."""

    def __init__(self, cfg: WeatherConfig, seed: int, scenario_start: float) -> None:
        self.cfg = cfg
        self.seed = seed
        self.offset_s = cfg.utc_offset_h * 3600.0
        taps = np.exp(-np.arange(_MA_TAPS) / cfg.anomaly_days)
        self._taps = taps / math.sqrt(float(np.sum(taps**2)))
        self._scripted = tuple(
            _Wave(resolve_when(w.start, scenario_start), w.duration, w.depth)
            for w in cfg.cold_waves
        )
        self._noise = lru_cache(maxsize=256)(self._day_noise)
        self._random_wave = lru_cache(maxsize=256)(self._day_wave)

    def _rng(self, stream: int, day: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7919, stream, day + (1 << 20)])

    def _day_noise(self, day: int) -> float:
        return float(self._rng(1, day).standard_normal())

    def _day_wave(self, day: int) -> _Wave | None:
        rng = self._rng(2, day)
        if rng.random() >= self.cfg.cold_wave_rate_per_day:
            return None
        lo, hi = self.cfg.cold_wave_depth
        start = day * _DAY - self.offset_s + rng.uniform(0, _DAY)
        return _Wave(start, rng.uniform(1.5, 4.0) * _DAY, rng.uniform(lo, hi))

    def _anomaly_at_day(self, day: int) -> float:
        noise = np.array([self._noise(day - k) for k in range(_MA_TAPS)])
        return self.cfg.anomaly_std * float(np.dot(self._taps, noise))

    def local_hours(self, t: float) -> float:
        """Local clock hour (0..24) at epoch ``t``; drives the daily cycle and night setback."""
        return ((t + self.offset_s) % _DAY) / 3600.0

    def daily_mean(self, t: float) -> float:
        """Mean temperature around ``t`` without the daily cycle (anomaly interpolated)."""
        local_days = (t + self.offset_s) / _DAY - 0.5
        day = math.floor(local_days)
        frac = local_days - day
        anomaly = (1 - frac) * self._anomaly_at_day(day) + frac * self._anomaly_at_day(day + 1)
        return self.cfg.mean_temp + anomaly - self.cold_wave_depth(t)

    def cold_wave_depth(self, t: float) -> float:
        """How many K the cold waves (scripted and random) take off at ``t``."""
        scripted = sum(w.depth * _wave_shape(t - w.start, w) for w in self._scripted)
        natural = 0.0  # overlapping random waves do not stack: the coldest air mass wins
        if self.cfg.cold_wave_rate_per_day > 0:
            today = math.floor((t + self.offset_s) / _DAY)
            for day in range(today - _WAVE_LOOKBACK, today + 1):
                wave = self._random_wave(day)
                if wave is not None:
                    natural = max(natural, wave.depth * _wave_shape(t - wave.start, wave))
        return scripted + natural

    def temperature(self, t: float) -> float:
        """Outdoor temperature: coldest around sunrise (06:30 local), warmest at 14:30.

        The classic two-half-cosine day: eight hours of warming, sixteen of slow cooling;
        the cycle averages to zero, so ``daily_mean`` stays the day's mean.
        """
        hour = self.local_hours(t)
        if _T_MIN_H <= hour < _T_MAX_H:
            cycle = -math.cos(math.pi * (hour - _T_MIN_H) / (_T_MAX_H - _T_MIN_H))
        else:
            since_max = (hour - _T_MAX_H) % 24.0
            cycle = math.cos(math.pi * since_max / (24.0 - (_T_MAX_H - _T_MIN_H)))
        return self.daily_mean(t) + self.cfg.daily_amplitude * cycle
