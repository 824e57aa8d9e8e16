"""Synthetic buildings with known thermal parameters, for the fit and prediction tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecast.thermal import Drive, simulate

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Buildings:
    drive: Drive
    station_of: I64
    indoor: F64  # what the sensors read (noise, gaps)
    a: F64
    b: F64
    c: F64
    switches_off: npt.NDArray[np.bool_]  # per station: off 22:00-05:00 every night


def buildings(seed: int = 1, stations: int = 40, flats: int = 600, days: int = 14,
              noise_k: float = 0.15, missing: float = 0.05) -> Buildings:
    """Hourly series: outdoor with a daily cycle and drift, supply on a curve, half the
    stations off every night; flats with time constants 25-45 h settled near 21 °C."""
    rng = np.random.default_rng(seed)
    steps = 24 * days
    hour = np.arange(steps) % 24
    outdoor = (-8.0 + 5.0 * np.sin(2 * np.pi * (hour - 9) / 24)[None, :]
               + rng.normal(0.0, 2.0, (stations, 1))
               + np.cumsum(rng.normal(0.0, 0.3, (stations, steps)), 1))
    on = np.ones((stations, steps))
    off = rng.random(stations) < 0.5
    night = (hour >= 22) | (hour < 5)
    on[off[:, None] & night[None, :]] = 0.0
    supply = np.clip(45.0 - 0.8 * outdoor, 35.0, 60.0) + rng.normal(0.0, 1.0, (stations, 1))
    heat = on * supply
    station_of = rng.integers(0, stations, flats).astype(np.int64)
    tau = rng.uniform(25.0, 45.0, flats)
    b = 1.0 / tau
    a = b * rng.uniform(0.8, 1.6, flats)
    mean_on = on.mean(1)[station_of]
    mean_heat = heat.mean(1)[station_of]
    mean_out = outdoor.mean(1)[station_of]
    c = b * (21.0 - mean_out) - a * (mean_heat - 21.0 * mean_on)  # settles near 21 °C
    start = np.full(flats, 21.0)
    true = simulate(start, heat[station_of], on[station_of], outdoor[station_of], a, b, c, 1.0)
    # sample k is the temperature at the start of step k (the end of step k - 1)
    true = np.concatenate([start[:, None], true[:, :-1]], 1)
    indoor = true + rng.normal(0.0, noise_k, true.shape)
    indoor[rng.random(indoor.shape) < missing] = np.nan
    drive = Drive(t0=0.0, step_s=3600.0, heat=heat, on=on, outdoor=outdoor)
    return Buildings(drive, station_of, indoor, a, b, c, off)
