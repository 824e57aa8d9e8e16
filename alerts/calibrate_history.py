"""A station's stored telemetry as arrays, for :mod:`alerts.calibrate`.

Calibration needs a handful of numeric fields over months, not :class:`~heatwatch.wire.Reading`
objects, so it asks InfluxDB for exactly those columns through the engine's own history client
(:class:`alerts.history.HistorySource`: same credentials, same error translation), in pages of
``source.limit`` rows that continue after the last time seen.
"""

from __future__ import annotations

import numpy as np

from alerts.calibrate import StationHistory
from alerts.config import FieldNames
from alerts.history import HistorySource, Selection

__all__ = ["CalibrationFields", "daily_counts", "read_station", "stations"]


class CalibrationFields:
    """Wire names of the fields calibration reads, from the rules file's ``fields`` block."""

    def __init__(self, names: FieldNames) -> None:
        self.outdoor = names.outdoor_temp
        self.supply = names.supply_temp
        self.ret = names.return_temp
        self.flow = names.flow
        self.makeup = names.makeup_flow
        self.setpoint = names.supply_setpoint
        self.power = names.heat_power

    def columns(self) -> list[str]:
        return [self.outdoor, self.supply, self.ret, self.setpoint, self.power, self.flow,
                self.makeup]


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stations(source: HistorySource, station: str | None = None) -> dict[str, str]:
    """Station -> zone of every stored telemetry series (or just ``station``)."""
    return source.stations(Selection(station=station))


def read_station(source: HistorySource, station: str, start: float, end: float,
                 fields: CalibrationFields) -> StationHistory:
    """Every telemetry row of ``station`` with ``start <= time < end`` (epoch seconds)."""
    cols = fields.columns()
    select = ", ".join(_ident(c) for c in cols)
    rows: list[list[float]] = []
    since = int(start * 1e9)
    until = int(end * 1e9)
    while since < until:
        q = (f'SELECT {select} FROM "telemetry" WHERE "station" = $station AND time >= {since}'
             f" AND time < {until} ORDER BY time LIMIT {source.limit}")
        series = source.query(q, {"station": station})
        page = [row for s in series for row in s.rows()]
        for row in page:
            rows.append([float(row["time"]) / 1e9] + [_num(row.get(c)) for c in cols])
        if len(page) < source.limit:
            break
        since = int(page[-1]["time"]) + 1
    data = np.array(rows, dtype=np.float64).reshape(-1, len(cols) + 1)
    return StationHistory(
        station=station, t=data[:, 0], outdoor=data[:, 1], supply=data[:, 2], ret=data[:, 3],
        setpoint=data[:, 4], power=data[:, 5], flow=data[:, 6], makeup=data[:, 7],
    )


def _num(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def daily_counts(source: HistorySource, station: str, start: float, end: float,
                 supply_field: str) -> int:
    """Days of ``[start, end)`` on which ``station`` sent any telemetry (its station-days)."""
    q = (f'SELECT count({_ident(supply_field)}) FROM "telemetry" WHERE "station" = $station '
         f"AND time >= {int(start * 1e9)} AND time < {int(end * 1e9)} GROUP BY time(1d)")
    return sum(1 for s in source.query(q, {"station": station}) for row in s.values
               if row[1])
