"""A simulated heating season for bench/forecast_bench.py: the simulator's own physics in-process,
with its readings gridded the way the forecast reads stored history, and weather forecasts
with an error that grows with lead time.

The fleet is :class:`simulators.fleet.SimFleet` (stations, flats, weather, heating regimes) run
at 5-minute station and 15-minute flat reporting, a city winter with random and scripted cold
waves; 40 % of the stations switch off at night (22:00-05:00, running through only below
-15 °C), 20 % set back, the rest heat continuously. The rules an operator would write for that
fleet (off windows, setback, the curve, the time zone) are built alongside
(:func:`station_rules`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.config import CurvePoint, HeatingSchedule, OffWindow, RuleSet, SupplyBelowCurve
from forecast.thermal import delivering
from simulators.fleet import SimFleet
from simulators.scenario import SimulatorSettings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TZ = "Asia/Shanghai"  # the simulator's default UTC+8
STEP_S = 300.0
FLAT_S = 900.0
OFF_SHARE = (0.0, 0.4)
SETBACK_SHARE = (0.4, 0.6)
RUN_THROUGH_BELOW_C = -18.0  # the off stations' controllers keep heating on colder nights


def scenario(stations: int, seed: int, start: dt.datetime, days: float) -> SimulatorSettings:
    return SimulatorSettings.model_validate({
        "seed": seed,
        "time": {"start": start.isoformat(), "duration": days * 86400.0},
        "fleet": {"stations": stations, "flats_per_station": [12, 30], "zones": ["north", "south",
                                                                            "east", "west"]},
        "reporting": {"station_interval_s": STEP_S, "flat_interval_s": FLAT_S},
        "weather": {"mean_temp": -10.0, "cold_wave_rate_per_day": 0.12,
                    "cold_wave_depth": [6.0, 12.0],
                    "cold_waves": [{"start": "20d", "duration": "3d", "depth": 10.0}]},
        "regimes": [
            {"share": list(OFF_SHARE), "night": "off", "window": ["22:00", "05:00"],
             "curve_shift_k": 8, "setback_k": 8, "run_through_below_c": RUN_THROUGH_BELOW_C},
            {"share": list(SETBACK_SHARE), "night": "setback", "window": ["22:00", "05:00"],
             "setback_k": 8, "curve_shift_k": 4},
        ],
    })


@dataclass(slots=True)
class Season:
    """Everything the bench needs, on a 15-minute grid (column k: [t0 + k·15 min, +15 min))."""

    t0: float
    grid_s: float
    station_ids: list[str]
    station_zone: list[str]
    regime: list[str]  # "off" | "setback" | "continuous" per station
    flat_station: I64
    flat_meter: list[str]
    supply: F64  # (stations, cols) mean secondary supply
    heat_on: F64  # (stations, cols) share of readings delivering heat
    heat: F64  # (stations, cols) mean of on·supply
    outdoor: F64  # (stations, cols) the station's outdoor sensor
    indoor: F64  # (flats, cols) the flat's reading in that quarter hour (NaN: none)
    city_outdoor: F64  # (cols,) the true city temperature at each column's middle
    curve: tuple[tuple[float, float], ...]


def simulate(stations: int, days: float, seed: int = 7) -> Season:
    start = dt.datetime(2026, 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    cfg = scenario(stations, seed, start, days)
    fleet = SimFleet(cfg, seed, start=start.timestamp())
    t0 = start.timestamp()
    cols = int(days * 86400 / FLAT_S)
    per = int(FLAT_S / STEP_S)
    n, m = fleet.layout.n_stations, fleet.layout.n_flats
    acc = {k: np.zeros((n, cols)) for k in ("supply", "on", "heat", "outdoor")}
    cnt = np.zeros((n, cols))
    indoor = np.full((m, cols), np.nan)
    city = np.zeros(cols)
    for col in range(cols):
        city[col] = fleet.weather.temperature(t0 + (col + 0.5) * FLAT_S)
        for _ in range(per):
            frame = fleet.step()
            v = frame.station_values
            s = frame.stations
            on = delivering(v["heat_power"], v["supply_temp"], v["return_temp"], 30.0, 3.0)
            acc["supply"][s, col] += v["supply_temp"]
            acc["on"][s, col] += on
            acc["heat"][s, col] += on * v["supply_temp"]
            acc["outdoor"][s, col] += v["outdoor_temp"]
            cnt[s, col] += 1
            if frame.flats.size:
                indoor[frame.flats, col] = frame.flat_values["indoor_temp"]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = {k: np.where(cnt > 0, a / np.maximum(cnt, 1), np.nan) for k, a in acc.items()}
    draw = fleet.regimes
    regime = ["off" if draw.off[i] else "setback" if _setback(fleet, i) else "continuous"
              for i in range(n)]
    lay = fleet.layout
    ids = [cfg.fleet.station_id_format.format(i) for i in range(n)]
    zones = [cfg.fleet.zones[z] for z in lay.station_zone]
    meters = [f"f{j:06d}" for j in range(m)]
    return Season(
        t0=t0, grid_s=FLAT_S, station_ids=ids, station_zone=zones, regime=regime,
        flat_station=lay.flat_station.astype(np.int64), flat_meter=meters,
        supply=means["supply"], heat_on=means["on"], heat=means["heat"],
        outdoor=means["outdoor"], indoor=indoor, city_outdoor=city,
        curve=cfg.control.curve,
    )


def _setback(fleet: SimFleet, i: int) -> bool:
    r = fleet.regimes
    return bool(r.setback_k[i] > 0 and not r.off[i])


def station_rules(season: Season) -> list[RuleSet]:
    """What an operator would configure for each station: its off window or setback, the
    fleet's curve, the city's time zone and season."""
    curve = tuple(CurvePoint(outdoor_c=o, supply_c=s) for o, s in season.curve)
    base = dict(timezone=TZ, season_start="10-15", season_end="04-15")
    off = RuleSet(heating=HeatingSchedule(**base, off_windows=(  # type: ignore[arg-type]
        OffWindow(start=dt.time(22), end=dt.time(5)),)),
        supply_below_curve=SupplyBelowCurve(curve=curve))
    setback = RuleSet(heating=HeatingSchedule(  # type: ignore[arg-type]
        **base, setback_start=dt.time(22), setback_end=dt.time(5), setback_k=8.0),
        supply_below_curve=SupplyBelowCurve(curve=curve))
    plain = RuleSet(heating=HeatingSchedule(**base),  # type: ignore[arg-type]
                    supply_below_curve=SupplyBelowCurve(curve=curve))
    by = {"off": off, "setback": setback, "continuous": plain}
    return [by[r] for r in season.regime]


class ForecastError:
    """City forecasts issued every hour: truth plus a bias per issue and an error that grows
    with lead time (a random walk, 0.35 K after 1 h, about 1.2 K after 12 h), seeded."""

    def __init__(self, season: Season, seed: int, bias_k: float = 0.5,
                 walk_k: float = 0.35) -> None:
        self.season = season
        self.seed = seed
        self.bias_k = bias_k
        self.walk_k = walk_k
        self._cache: dict[int, tuple[float, F64]] = {}

    def issue(self, t: float) -> tuple[float, F64]:
        """(issued_at, hourly forecast values from issued_at on, 25 points)."""
        hour = math.floor((t - self.season.t0) / 3600.0)
        hit = self._cache.get(hour)
        if hit is not None:
            return hit
        issued = self.season.t0 + hour * 3600.0
        rng = np.random.default_rng([self.seed, hour])
        leads = np.arange(25)
        truth = np.array([self.truth(issued + 3600.0 * k) for k in leads])
        walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, self.walk_k, 24))])
        value = truth + rng.normal(0.0, self.bias_k) * np.minimum(leads / 6.0, 1.0) + walk
        self._cache[hour] = (issued, value)
        return issued, value

    def truth(self, t: float) -> float:
        s = self.season
        pos = (t - s.t0) / s.grid_s - 0.5
        return float(np.interp(pos, np.arange(s.city_outdoor.size), s.city_outdoor))

    def at(self, now: float, t: float) -> float:
        issued, values = self.issue(now)
        return float(np.interp((t - issued) / 3600.0, np.arange(values.size), values))
