"""The ledger from stored readings: InfluxDB ``meter`` rows in, ``comfort_day`` points out.

One zone and one local day at a time (the zone's ``heating.timezone``), so memory stays at one
zone-day of readings whatever the period: a zone of 300 flats reporting every 5 minutes is
86,400 samples. The same code serves the alert engine's day-close hook and
``heatwatch report comfort``, so a recomputed period equals what was written live.

The flats of a day are the registry's meters of the zone (a flat that sent nothing is a
``no_data`` day, which is the point of counting them) plus any meter that reported without
being registered (no area, so unpriced).

InfluxDB access goes through two callables, ``query(q, params) -> list[Series]`` and
``write(lines) -> int``, so the caller picks the client (the engine's history reader and
event sink, the report's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from alerts.config import RulesConfig
from heatwatch.influx import Param, Series
from heatwatch.lineproto import format_line
from heatwatch.registry import Registry
from households.config import ComfortConfig
from households.exposure import FlatDay, refund_of
from households.ledger import NO_DATA, Sample, comfort_day, day_bounds, days_between

__all__ = [
    "MEASUREMENT",
    "LedgerReadError",
    "Query",
    "Write",
    "comfort_line",
    "day_rows",
    "period_rows",
    "read_samples",
    "write_rows",
    "zone_timezone",
    "zones_of",
]

MEASUREMENT = "comfort_day"
PAGE = 10000  # rows per query: at or under InfluxDB's max-row-limit

Query = Callable[[str, Mapping[str, Param]], list[Series]]


class LedgerReadError(RuntimeError):
    """The stored readings cannot be paged (more points at one instant than a page)."""

Write = Callable[[list[str]], int]


def zone_timezone(rules: RulesConfig, zone: str) -> str:
    return rules.params_for(zone).heating.timezone


def zones_of(query: Query, registry: Registry) -> list[str]:
    """Zones with registered flats or with stored meter readings."""
    zones = {st.zone for st in registry if st.meters}
    for s in query('SHOW TAG VALUES FROM "meter" WITH KEY = "zone"', {}):
        zones.update(str(v[1]) for v in s.values if len(v) > 1)
    return sorted(zones)


def read_samples(query: Query, start: float, end: float, *, zone: str | None = None,
                 station: str | None = None, meter: str | None = None,
                 field: str = "indoor_temp", page: int = PAGE,
                 ) -> dict[tuple[str, str], list[Sample]]:
    """(station, meter) -> time-sorted ``(epoch s, value)`` of ``field`` in ``[start, end)``.

    Pages of :data:`PAGE` rows in time order; a full page is kept up to its last instant and
    the next one starts there, as :meth:`alerts.history.HistorySource.chunk` does."""
    where = ""
    params: dict[str, Param] = {}
    if zone is not None:
        where += ' AND "zone" = $zone'
        params["zone"] = zone
    if station is not None:
        where += ' AND "station" = $station'
        params["station"] = station
    if meter is not None:
        where += ' AND "meter" = $meter'
        params["meter"] = meter
    out: dict[tuple[str, str], list[Sample]] = {}
    lo, hi = _ns(start), _ns(end)
    while True:
        q = (f'SELECT "{field}", "station", "meter" FROM "meter" WHERE time >= {lo} AND '
             f"time < {hi}{where} ORDER BY time LIMIT {page}")
        series = query(q, params)
        n = sum(len(s.values) for s in series)
        full = n >= page
        last = max((int(s.values[-1][0]) for s in series if s.values), default=lo)
        if full and last <= lo:
            raise LedgerReadError(f"more than {page} meter points at one instant ({lo} ns)")
        for s in series:  # by column index: a dict per row would cost more than the query
            cols = {name: i for i, name in enumerate(s.columns)}
            ti, vi, si, mi = cols["time"], cols[field], cols["station"], cols["meter"]
            for row in s.values:
                t, value, st, meter = row[ti], row[vi], row[si], row[mi]
                if full and t >= last:
                    continue
                if (type(value) is float or (type(value) is int)) and type(st) is str \
                        and type(meter) is str:
                    key = (st, meter)
                    found = out.get(key)
                    if found is None:
                        found = out[key] = []
                    found.append((t / 1e9, float(value)))
        if not full:
            break
        lo = last
    for samples in out.values():
        samples.sort()
    return out


def _ns(t: float) -> int:
    return round(t * 1e9)


@dataclass(frozen=True, slots=True)
class _Flat:
    station: str
    meter: str
    area_m2: float | None


def _flats(registry: Registry, zone: str, station: str | None,
           seen: Iterator[tuple[str, str]]) -> list[_Flat]:
    """The registry's flats of ``zone`` (or of ``station``), then unregistered ones seen."""
    out: dict[tuple[str, str], _Flat] = {}
    for st in registry:
        if st.zone != zone or (station is not None and st.id != station):
            continue
        for m in st.meters:
            out[(st.id, m.id)] = _Flat(st.id, m.id, m.area_m2)
    for key in seen:
        out.setdefault(key, _Flat(key[0], key[1], None))
    return [out[k] for k in sorted(out)]


def day_rows(query: Query, registry: Registry, rules: RulesConfig, cfg: ComfortConfig,
             zone: str, day: date, *, station: str | None = None) -> list[FlatDay]:
    """The ledger of one zone (or one of its stations) for one local day."""
    tz = zone_timezone(rules, zone)
    start, end = day_bounds(day, tz)
    samples = read_samples(query, start - cfg.ledger.max_gap_s, end,
                           zone=zone, station=station, field=rules.fields.indoor_temp)
    fee = cfg.fee(zone)
    rows: list[FlatDay] = []
    for flat in _flats(registry, zone, station, iter(samples)):
        c = comfort_day(samples.get((flat.station, flat.meter), []), day, tz, cfg.ledger,
                        cfg.bands)
        rows.append(FlatDay(flat.station, zone, flat.meter, flat.area_m2, c,
                            refund_of(c, flat.area_m2, fee)))
    return rows


def period_rows(query: Query, registry: Registry, rules: RulesConfig, cfg: ComfortConfig,
                start: float | date, end: float | date, *, zone: str | None = None,
                station: str | None = None) -> Iterator[FlatDay]:
    """Every flat-day whose local day begins in ``[start, end)``, zone by zone, day by day.

    A ``date`` bound is that date's local midnight in each zone, so ``2026-01-10`` to
    ``2026-01-11`` is the 10th everywhere, whatever the zones' time zones."""
    if station is not None:
        zones = [zone or registry.zone_of(station)]
    elif zone is not None:
        zones = [zone]
    else:
        zones = zones_of(query, registry)
    for z in zones:
        tz = zone_timezone(rules, z)
        a = day_bounds(start, tz)[0] if isinstance(start, date) else start
        b = day_bounds(end, tz)[0] if isinstance(end, date) else end
        for day in days_between(a, b, tz):
            yield from day_rows(query, registry, rules, cfg, z, day, station=station)


def comfort_line(row: FlatDay, standard_c: float, measurement: str = MEASUREMENT) -> str:
    """One ``comfort_day`` point (docs/households.md). ``band`` is a field, not a tag: a
    recomputed day with another band must overwrite the point, not add a second series.
    ``below_standard`` (1/0, so Grafana can sum it): a day with enough data whose mean is
    under the standard."""
    c = row.comfort
    below = c.band != NO_DATA and c.mean_c is not None and c.mean_c < standard_c
    fields: dict[str, float | int | bool | str] = {
        "band": c.band, "share": c.share, "hours": c.hours, "hours_data": c.hours_data,
        "hours_below": c.hours_below, "hours_critical": c.hours_critical,
        "below_standard": int(below),
    }
    if c.min_c is not None and c.mean_c is not None:
        fields["min_c"] = c.min_c
        fields["mean_c"] = c.mean_c
    if row.area_m2 is not None:
        fields["area_m2"] = row.area_m2
    if row.refund is not None:
        fields["refund"] = row.refund
    tags = sorted([("meter", row.meter), ("station", row.station), ("zone", row.zone)])
    return format_line(measurement, tags, fields, _ns(c.start))


def write_rows(write: Write, rows: list[FlatDay], standard_c: float, batch: int = 5000) -> int:
    """Write ledger lines in batches; returns points InfluxDB accepted."""
    done = 0
    for i in range(0, len(rows), batch):
        done += write([comfort_line(r, standard_c) for r in rows[i:i + batch]])
    return done
