"""Simulated station histories with a known curve, night off window and setback.

The tests calibrate on these and check that the known values come back. Everything is
generated here (no real data in tests): a winter of readings every ``spacing_s`` seconds with
a daily and a slow outdoor temperature swing, a known piecewise-linear weather curve, heating
switched off in a night window on most nights and run through with a reduced setpoint on the
others, a first-order warm-up after each restart, sensor noise and a few outliers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from alerts.calibrate import StationHistory, curve_at

TZ = ZoneInfo("Europe/Belgrade")


@dataclass(frozen=True)
class Truth:
    curve: tuple[tuple[float, float], ...] = ((-10.0, 65.0), (2.0, 50.0), (12.0, 44.0))
    off_start: dt.time = dt.time(23, 0)
    off_end: dt.time = dt.time(5, 0)
    off_nights: float = 0.75  # share of nights switched off; the rest run through
    setback_start: dt.time = dt.time(22, 0)
    setback_end: dt.time = dt.time(6, 0)
    setback_k: float = 8.0
    warmup_tau_s: float = 1200.0
    dt_k: float = 6.0
    noise_k: float = 0.7


def _in(local: dt.time, a: dt.time, b: dt.time) -> bool:
    return a <= local < b if a <= b else (local >= a or local < b)


def simulate(station: str, start: dt.datetime, days: int, *, spacing_s: int = 300,
             truth: Truth | None = None, seed: int = 1, setpoint: bool = False,
             power: bool = True) -> StationHistory:
    """A station's history as arrays (NaN for fields it does not send)."""
    tr = truth or Truth()
    rng = np.random.default_rng(seed)
    t0 = start.timestamp()
    t = t0 + np.arange(0, days * 86400, spacing_s, dtype=np.float64)
    n = len(t)
    day = (t - t0) / 86400
    outdoor = (1.0 + 7.0 * np.sin(2 * np.pi * day / 23) + 3.0 * np.sin(2 * np.pi * (day - 0.375))
               + rng.normal(0, 0.3, n))
    nights_off = rng.random(days + 2) < tr.off_nights
    supply = np.empty(n)
    ret = np.empty(n)
    target_out = np.empty(n)
    off = np.zeros(n, dtype=bool)
    current = 45.0
    last_on = True
    restart_at = -np.inf
    for i in range(n):
        local = dt.datetime.fromtimestamp(t[i], TZ)
        night_index = int((local - dt.timedelta(hours=12) - start.astimezone(TZ)).days) + 1
        is_off = nights_off[max(night_index, 0)] and _in(local.time(), tr.off_start, tr.off_end)
        target = float(curve_at(np.array([outdoor[i]]), tr.curve)[0])
        if _in(local.time(), tr.setback_start, tr.setback_end):
            target -= tr.setback_k
        target_out[i] = target
        if is_off:
            current = 24.0 + (current - 24.0) * np.exp(-spacing_s / 3600)
            off[i] = True
        else:
            if not last_on:
                restart_at = t[i]
            since = t[i] - restart_at
            if since < 4 * tr.warmup_tau_s:
                current = target + (current - target) * np.exp(-spacing_s / tr.warmup_tau_s)
            else:
                current = target
        last_on = not is_off
        supply[i] = current
        ret[i] = current - (0.2 if is_off else tr.dt_k)
    supply = supply + rng.normal(0, tr.noise_k, n)
    outliers = rng.random(n) < 0.02
    supply[outliers] -= rng.uniform(5, 15, outliers.sum())
    ret = ret + rng.normal(0, 0.3, n)
    heat = np.where(off, 0.0, 300.0 + rng.normal(0, 10, n))
    nan = np.full(n, np.nan)
    return StationHistory(
        station=station, t=t, outdoor=outdoor, supply=supply, ret=ret,
        setpoint=target_out if setpoint else nan, power=heat if power else nan,
        flow=nan, makeup=nan,
    )


def line_protocol(h: StationHistory, zone: str = "nis") -> list[str]:
    """The history as the collector would store it (telemetry, seconds precision)."""
    names = {"outdoor_temp": h.outdoor, "supply_temp": h.supply, "return_temp": h.ret,
             "supply_setpoint": h.setpoint, "heat_power": h.power}
    lines = []
    for i, ts in enumerate(h.t):
        fields = ",".join(f"{k}={float(v[i]):.3f}" for k, v in names.items()
                          if np.isfinite(v[i]))
        lines.append(f"telemetry,station={h.station},zone={zone} {fields} {int(ts)}")
    return lines
