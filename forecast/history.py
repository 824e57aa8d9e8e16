"""Stored history on the fit's hourly grid (``heatwatch forecast fit`` and the refresh).

The fit needs hourly means, not readings: InfluxDB computes them (``GROUP BY time``), per
station, so a city's fortnight is 20,000 small queries of a few hundred rows each instead of
billions of 10-second rows. Station telemetry is asked at 15 minutes, where "delivering heat"
is decided (as :mod:`alerts.window` does per reading: heat power at or above
``heating.delivering_kw`` where reported, else the supply-return difference), then averaged to
the hour; flats' indoor temperature at one hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.calibrate_history import stations as stored_stations
from alerts.config import RulesConfig
from alerts.history import HistorySource
from forecast.thermal import Drive, Flat, delivering

__all__ = ["FitInput", "learned_run_through", "read_fit_input"]

F64 = npt.NDArray[np.float64]
QUARTER_S = 900.0
HOUR_S = 3600.0


@dataclass(slots=True)
class FitInput:
    flats: list[Flat]
    indoor: F64  # (flats, hours)
    stations: list[str]
    drive: Drive
    zones: dict[str, str]  # station -> zone


def learned_run_through(data: FitInput, rules: RulesConfig) -> dict[str, float]:
    """Per station with planned off windows that ran through some of them in the history:
    the outdoor temperature under which it does (:func:`forecast.predict.learn_run_through`).
    """
    from forecast.predict import learn_run_through

    mids = data.drive.times() + data.drive.step_s / 2
    out: dict[str, float] = {}
    for i, station in enumerate(data.stations):
        rs = rules.params_for(data.zones.get(station, ""), station)
        found = learn_run_through(mids, data.drive.on[i], data.drive.outdoor[i], rs)
        if found is not None:
            out[station] = found
    return out


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _column(rows: list[list[object]], i: int, t0: float, step: float, n: int) -> F64:
    out = np.full(n, np.nan)
    for row in rows:
        t, v = row[0], row[i]
        if isinstance(t, int | float) and isinstance(v, int | float):
            k = math.floor((float(t) / 1e9 - t0) / step)
            if 0 <= k < n:
                out[k] = float(v)
    return out


def read_fit_input(source: HistorySource, rules: RulesConfig, start: float, end: float,
                   station: str | None = None) -> FitInput:
    """Every stored station (or ``station``) and its flats on ``[start, end)``, hourly.
    Raises :class:`alerts.history.HistoryUnavailable` when InfluxDB cannot answer."""
    start = math.floor(start / HOUR_S) * HOUR_S
    hours = max(0, math.floor((end - start) / HOUR_S))
    quarters = hours * 4
    names = rules.fields
    sel = ", ".join(f"mean({_ident(f)})" for f in (names.supply_temp, names.return_temp,
                                                   names.heat_power, names.outdoor_temp))
    zones = stored_stations(source, station)
    ids = sorted(zones)
    heat = np.full((len(ids), hours), np.nan)
    on = np.full((len(ids), hours), np.nan)
    outdoor = np.full((len(ids), hours), np.nan)
    flats: list[Flat] = []
    indoor_rows: list[F64] = []
    span = f"time >= {int(start * 1e9)} AND time < {int((start + hours * HOUR_S) * 1e9)}"
    for i, name in enumerate(ids):
        zone = zones[name] or ""
        h = rules.params_for(zone, name).heating
        q = (f'SELECT {sel} FROM "telemetry" WHERE "station" = $station AND {span} '
             f"GROUP BY time(15m)")
        rows = [r for s in source.query(q, {"station": name}) for r in s.values]
        supply = _column(rows, 1, start, QUARTER_S, quarters)
        ret = _column(rows, 2, start, QUARTER_S, quarters)
        power = _column(rows, 3, start, QUARTER_S, quarters)
        out = _column(rows, 4, start, QUARTER_S, quarters)
        flag = delivering(power, supply, ret, h.delivering_kw, h.delivering_dt_k)
        with np.errstate(all="ignore"):
            heat[i] = np.nanmean((flag * supply).reshape(hours, 4), 1)
            on[i] = np.nanmean(flag.reshape(hours, 4), 1)
            outdoor[i] = np.nanmean(out.reshape(hours, 4), 1)
        q = (f'SELECT mean({_ident(names.indoor_temp)}) FROM "meter" WHERE "station" = $station'
             f' AND {span} GROUP BY time(1h), "meter"')
        for s in source.query(q, {"station": name}):
            meter = s.tags.get("meter")
            if not isinstance(meter, str):
                continue
            flats.append(Flat(zone, name, meter))
            indoor_rows.append(_column(s.values, 1, start, HOUR_S, hours))
    indoor = np.array(indoor_rows, dtype=np.float64).reshape(len(flats), hours)
    drive = Drive(t0=start, step_s=HOUR_S, heat=heat, on=on, outdoor=outdoor)
    return FitInput(flats=flats, indoor=indoor, stations=ids, drive=drive,
                    zones={name: zones[name] or "" for name in ids})
