"""Stored readings back out of InfluxDB, as :class:`~heatwatch.wire.Reading` objects.

Warm-up (after a restart) and backtest (over a past period) both need the engine's input as it
was stored by the collector (docs/wire-format.md, "Storage in InfluxDB"). They read it through
the synchronous :class:`heatwatch.influx.InfluxClient` (InfluxQL, on 1.x and on 2.x through
its DBRP mapping), so the engine thread needs no event loop.

Every query is bounded: by time range and ``LIMIT`` (a time chunk that hits the limit is
split in two and asked again), or by ``SLIMIT``/``SOFFSET`` pages of series. User input (a
station or zone id) travels as a bound parameter, never as InfluxQL text. Every failure is
translated at this boundary into :class:`HistoryUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from heatwatch.influx import InfluxClient, InfluxUnavailable, Param, Series
from heatwatch.settings import InfluxSettings
from heatwatch.wire import FieldValue, Kind, Reading

__all__ = [
    "HistorySource", "HistoryUnavailable", "Selection", "Series", "reading_from_row",
    "readings_of", "sort_key",
]

_TAGS = frozenset({"time", "station", "zone", "meter", "seq"})
_KIND_ORDER = {Kind.STATUS: 0, Kind.TELEMETRY: 1, Kind.METER: 2}


class HistoryUnavailable(InfluxUnavailable):
    """InfluxDB could not answer (down, refused, or rejected the query), or the history cannot
    be paged (more points at one instant than a page holds)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored readings to read: all, one zone, or one station.

    ``meters`` is False for a single station: ``zone_cold`` judges a whole zone, and one
    station's flats are not one.
    """

    station: str | None = None
    zone: str | None = None

    def where(self) -> tuple[str, dict[str, Param]]:
        clauses: list[str] = []
        params: dict[str, Param] = {}
        if self.station is not None:
            clauses.append('"station" = $station')
            params["station"] = self.station
        if self.zone is not None:
            clauses.append('"zone" = $zone')
            params["zone"] = self.zone
        return "".join(f" AND {c}" for c in clauses), params

    @property
    def meters(self) -> bool:
        return self.station is None


def reading_from_row(kind: Kind, row: Mapping[str, Any]) -> Reading | None:
    """A stored row back into the reading the collector stored (None if it has no fields)."""
    fields: dict[str, FieldValue] = {}
    for name, value in row.items():
        if name in _TAGS or value is None or isinstance(value, list | dict):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # every number is stored as a float (docs/wire-format.md)
        fields[name] = value
    station = row.get("station")
    if not fields or not isinstance(station, str):
        return None
    seq = row.get("seq")
    return Reading(kind, station, int(row["time"]), fields,
                   meter=row.get("meter") if kind is Kind.METER else None,
                   seq=int(seq) if isinstance(seq, int | float) else None)


def readings_of(kind: Kind, series: list[Series], before_ns: int | None = None
                ) -> list[Reading]:
    """:func:`reading_from_row` for every row of ``series`` (older than ``before_ns``), the
    same readings, without a dict per row: a backtest reads hundreds of thousands."""
    out: list[Reading] = []
    append = out.append
    for s in series:
        cols = s.columns
        index = {name: i for i, name in enumerate(cols)}
        at = index["time"]
        fields = [(i, name) for i, name in enumerate(cols) if name not in _TAGS]
        station_i, meter_i, seq_i = index.get("station"), index.get("meter"), index.get("seq")
        tag_station, tag_meter, tag_seq = (s.tags.get("station"), s.tags.get("meter"),
                                           s.tags.get("seq"))
        for row in s.values:
            ts = row[at]
            if before_ns is not None and ts >= before_ns:
                continue
            values: dict[str, FieldValue] = {}
            for i, name in fields:
                v = row[i]
                if v is None:
                    continue
                t = type(v)
                if t is float:
                    values[name] = v
                elif t is int:
                    values[name] = float(v)  # every number is stored as a float
                elif t is bool or t is str:
                    values[name] = v
                elif not isinstance(v, list | dict):  # not from JSON; as reading_from_row
                    is_int = isinstance(v, int) and not isinstance(v, bool)
                    values[name] = float(v) if is_int else v
            station = row[station_i] if station_i is not None else tag_station
            if not values or not isinstance(station, str):
                continue
            meter = row[meter_i] if meter_i is not None else tag_meter
            seq = row[seq_i] if seq_i is not None else tag_seq
            append(Reading(kind, station, int(ts), values,
                           meter=meter if kind is Kind.METER else None,
                           seq=int(seq) if isinstance(seq, int | float) else None))
    return out


def sort_key(reading: Reading) -> tuple[int, int, str, str]:
    """Deterministic replay order: time, then status before telemetry before meters."""
    return (reading.ts_ns, _KIND_ORDER[reading.kind], reading.station, reading.meter or "")


class HistorySource:
    """Stored readings through InfluxQL, for the alert engine's warm-up and backtest."""

    def __init__(
        self, settings: InfluxSettings, *, timeout: float | None = None, limit: int = 10000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``limit``: rows per query; keep it at or under the server's ``max-row-limit``.
        ``transport``: tests only."""
        self.settings = settings
        self.limit = limit
        self._influx = InfluxClient(settings, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._influx.close()

    def query(self, q: str, params: Mapping[str, Param] | None = None) -> list[Series]:
        """Run one statement; its series. ``partial`` results count as an error here."""
        try:
            return self._influx.series(q, params)
        except InfluxUnavailable as exc:
            raise HistoryUnavailable(exc.detail, exc.status) from exc

    # -- whole periods (backtest) -----------------------------------------------------------

    def chunk(self, start_ns: int, end_ns: int, selection: Selection) -> list[Reading]:
        """Every stored reading with ``start <= time < end``, in :func:`sort_key` order."""
        out: list[Reading] = []
        measurements = [("station_status", Kind.STATUS, '"state", "online", "station"'),
                        ("telemetry", Kind.TELEMETRY, "*")]
        if selection.meters:
            measurements.append(("meter", Kind.METER, '"indoor_temp", "station", "meter"'))
        for measurement, kind, columns in measurements:
            out += self._range(measurement, kind, columns, start_ns, end_ns, selection)
        out.sort(key=sort_key)
        return out

    def _range(self, measurement: str, kind: Kind, columns: str, start_ns: int, end_ns: int,
               selection: Selection) -> list[Reading]:
        """Pages of ``limit`` rows in time order; a full page is kept up to its last instant
        and the next one starts there (that instant's rows may go on past the page)."""
        where, params = selection.where()
        out: list[Reading] = []
        lo = start_ns
        while True:
            q = (f'SELECT {columns} FROM "{measurement}" WHERE time >= {lo} AND time < '
                 f"{end_ns}{where} ORDER BY time LIMIT {self.limit}")
            series = self.query(q, params)
            if sum(len(s.values) for s in series) < self.limit:
                out += readings_of(kind, series)
                return out
            last = max(int(s.values[-1][s.columns.index("time")]) for s in series if s.values)
            if last <= lo:
                raise HistoryUnavailable(
                    f"more than {self.limit} {measurement} points at one instant ({lo} ns)")
            out += readings_of(kind, series, before_ns=last)
            lo = last

    def stations(self, selection: Selection) -> dict[str, str]:
        """Station -> zone of every stored telemetry series (``SHOW SERIES``: index only)."""
        where, params = selection.where()
        q = 'SHOW SERIES FROM "telemetry"' + (" WHERE " + where[5:] if where else "")
        out: dict[str, str] = {}
        for s in self.query(q, params):
            for (key,) in s.values:
                tags = dict(part.split("=", 1) for part in _split_key(str(key))[1:])
                if "station" in tags:
                    out[tags["station"]] = tags.get("zone", "")
        return out

    # -- latest values (warm-up) ------------------------------------------------------------

    def latest(self, measurement: str, kind: Kind, columns: str, since_ns: int, until_ns: int,
               group_by: str, per_series: int, page: int = 1000,
               selection: Selection | None = None) -> Iterator[list[Reading]]:
        """The newest ``per_series`` rows of each series with ``since <= time < until``.

        Pages of ``page`` series (``SLIMIT``/``SOFFSET``), each series in time order, so a
        city-size fleet never arrives as one giant response.
        """
        where, params = (selection or Selection()).where()
        offset = 0
        while True:
            q = (f'SELECT {columns} FROM "{measurement}" WHERE time >= {since_ns} AND time < '
                 f"{until_ns}{where} GROUP BY {group_by} ORDER BY time DESC LIMIT {per_series}"
                 f" SLIMIT {page} SOFFSET {offset}")
            series = self.query(q, params)
            for s in series:
                yield readings_of(kind, [s])[::-1]
            if len(series) < page:
                return
            offset += page


def _split_key(key: str) -> list[str]:
    """Split a series key on unescaped commas, unescaping each part."""
    parts, cur, escaped = [], [], False
    for ch in key:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts
