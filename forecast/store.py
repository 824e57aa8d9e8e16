"""Forecasts in InfluxDB: measurement ``weather_forecast``, read back as they were known.

One point per forecast hour of an issue: time = the hour forecast (target time); tags
``zone``, ``source`` and ``lead`` (whole hours from the issue's clock hour to the target);
fields ``outdoor_temp`` (°C), ``lead_h`` (exact lead in hours) and ``issued_at`` (epoch s).

Why the ``lead`` tag: InfluxDB keeps one point per series and timestamp, so without it every
new issue would overwrite the previous issues' values for the same hours and "the forecast
known at time t" could not be replayed. With it, the issues of different clock hours never
collide, and the series count stays bounded (zones x sources x forecast hours). Two issues of
the same zone and source within one clock hour do collide: the later replaces the earlier
(the in-memory book keeps both; docs/forecast.md).

The reader (:func:`load_book`) regroups the points by ``issued_at`` into issues, so a
backtest asks ``book.as_known_at(zone, t)`` exactly as the live predictor asks ``latest``;
:func:`error_by_lead` judges stored forecasts against the outdoor temperature the stations
measured.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from forecast.weather import ForecastBook, ForecastPoint, WeatherForecast
from heatwatch.lineproto import format_line

__all__ = [
    "MEASUREMENT",
    "LeadError",
    "actual_outdoor",
    "error_by_lead",
    "forecast_lines",
    "forecasts_from_rows",
    "load_book",
    "load_forecasts",
]

MEASUREMENT = "weather_forecast"
HOUR = 3600.0


class _Series(Protocol):
    def rows(self) -> Iterator[dict[str, Any]]: ...


# Runs one InfluxQL statement with bound params and returns its series (the alert service's
# ``HistorySource.query``, or the shared InfluxDB client's one-statement query).
Query = Callable[[str, Mapping[str, Any]], Sequence[_Series]]


def lead_tag(issued_at: float, at: float) -> str:
    return str(math.floor((at - math.floor(issued_at / HOUR) * HOUR) / HOUR))


def forecast_lines(f: WeatherForecast) -> list[str]:
    """Line protocol of one issue (nanosecond timestamps)."""
    out = []
    for p in f.points:
        tags = (("lead", lead_tag(f.issued_at, p.at)), ("source", f.source), ("zone", f.zone))
        fields = {"issued_at": float(f.issued_at), "lead_h": round(f.lead_h(p), 4),
                  "outdoor_temp": float(p.outdoor_temp)}
        out.append(format_line(MEASUREMENT, tags, fields, round(p.at * 1e9)))
    return out


def forecasts_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[WeatherForecast]:
    """Stored points (columns time [ns], zone, source, issued_at, outdoor_temp) regrouped into
    issues, sorted by zone, then issue time."""
    groups: dict[tuple[str, str, float], dict[float, float]] = defaultdict(dict)
    for row in rows:
        temp, issued = row.get("outdoor_temp"), row.get("issued_at")
        if temp is None or issued is None:
            continue
        key = (str(row["zone"]), str(row["source"]), float(issued))
        groups[key][int(row["time"]) / 1e9] = float(temp)
    out = [WeatherForecast(zone, issued, source,
                           tuple(ForecastPoint(at, t) for at, t in sorted(points.items())))
           for (zone, source, issued), points in groups.items()]
    out.sort(key=lambda f: (f.zone, f.issued_at, f.source))
    return out


def _where(zone: str | None, source: str | None) -> tuple[str, dict[str, Any]]:
    clauses, params = "", {}
    if zone is not None:
        clauses += ' AND "zone" = $zone'
        params["zone"] = zone
    if source is not None:
        clauses += ' AND "source" = $source'
        params["source"] = source
    return clauses, params


def load_forecasts(
    query: Query, start: float, end: float, *, zone: str | None = None,
    source: str | None = None, issued_from: float | None = None, chunk_s: float = 7 * 86400.0,
) -> list[WeatherForecast]:
    """Issues with points targeted in ``[start, end)`` (only those points), issued at or
    after ``issued_from`` when given. Read ``chunk_s`` of target time per query, so a long
    span never meets the server's row limit (48 points per issue add up)."""
    where, params = _where(zone, source)
    rows: list[dict[str, Any]] = []
    lo = start
    while lo < end:
        hi = min(end, lo + chunk_s)
        q = (f'SELECT "outdoor_temp", "issued_at" FROM "{MEASUREMENT}" WHERE time >= '
             f'{round(lo * 1e9)} AND time < {round(hi * 1e9)}{where} GROUP BY "zone", "source"')
        rows.extend(row for s in query(q, params) for row in s.rows()
                    if issued_from is None or (row.get("issued_at") is not None
                                               and row["issued_at"] >= issued_from))
        lo = hi
    return forecasts_from_rows(rows)


def load_book(
    query: Query, start: float, end: float, *, horizon_s: float = 48 * HOUR,
    zone: str | None = None, source: str | None = None,
) -> ForecastBook:
    """The forecasts a replay of ``[start, end)`` may need: every issue made in that span or
    up to a day before it, with its points up to ``end + horizon_s``. Use
    ``book.as_known_at(zone, t)``: it never returns an issue made after ``t``."""
    book = ForecastBook(keep_s=None)
    book.put_all(load_forecasts(query, start - 24 * HOUR, end + horizon_s, zone=zone,
                                source=source, issued_from=start - 24 * HOUR))
    return book


def actual_outdoor(query: Query, start: float, end: float, *, zone: str | None = None
                   ) -> dict[tuple[str, float], float]:
    """What happened: the zone's measured outdoor temperature per hour, the mean of its
    stations' ``telemetry.outdoor_temp`` over the hour centred on it ({(zone, hour): °C})."""
    where, params = _where(zone, None)
    q = (f'SELECT mean("outdoor_temp") AS "t" FROM "telemetry" WHERE time >= '
         f'{round((start - HOUR / 2) * 1e9)} AND time < {round((end + HOUR / 2) * 1e9)}'
         f'{where} GROUP BY time(1h, 30m), "zone"')
    out: dict[tuple[str, float], float] = {}
    for s in query(q, params):
        for row in s.rows():
            if row.get("t") is None:
                continue
            out[(str(row["zone"]), int(row["time"]) / 1e9 + HOUR / 2)] = float(row["t"])
    return out


@dataclass(frozen=True, slots=True)
class LeadError:
    """How wrong the forecasts were at one lead (whole hours), against the measurements."""

    lead_h: int
    n: int
    mae: float  # mean absolute error, K
    bias: float  # mean of forecast - actual, K (positive: forecasts too warm)


def error_by_lead(
    forecasts: Iterable[WeatherForecast], actual: Mapping[tuple[str, float], float],
    *, leads: Iterable[int] | None = None,
) -> list[LeadError]:
    """MAE and bias per lead hour (a point's lead rounded to whole hours) over every point
    that has a measurement for its hour; ``leads``: only these (e.g. 1, 3, 6, 12)."""
    wanted = set(leads) if leads is not None else None
    abs_sum: dict[int, float] = defaultdict(float)
    sum_: dict[int, float] = defaultdict(float)
    n: dict[int, int] = defaultdict(int)
    for f in forecasts:
        for p in f.points:
            lead = round(f.lead_h(p))
            if wanted is not None and lead not in wanted:
                continue
            measured = actual.get((f.zone, p.at))
            if measured is None:
                continue
            diff = p.outdoor_temp - measured
            abs_sum[lead] += abs(diff)
            sum_[lead] += diff
            n[lead] += 1
    return [LeadError(lead, n[lead], abs_sum[lead] / n[lead], sum_[lead] / n[lead])
            for lead in sorted(n)]
