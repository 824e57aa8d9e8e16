"""The household view's data: a flat's readings, its station's supply, open alerts, today.

The evidence for a complaint's verdict (:func:`households.verdict.judge`) and the flats of a
station with today's comfort so far, gathered with a few bounded InfluxQL statements (tag
values bound, never in the text). The arithmetic is the ledger's: the API only fetches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from alerts.model import AlertState, Scope
from alerts.rows import AlertFilter
from alerts.rules.temperature import SUPPLY_BELOW_CURVE
from alerts.schedule import curve_setpoint, in_setback
from api.deps import Services
from heatwatch.registry import Meter, Station
from households.compute import zone_timezone
from households.ledger import Sample, band_of, day_bounds, tally
from households.verdict import DAY_S, Evidence, OpenAlert, StationSupply

__all__ = ["FlatToday", "evidence", "flat_samples", "open_alerts", "station_supply",
           "station_today"]

STATION_FRESH_S = 900.0  # a station reading older than this says nothing about "now"


async def flat_samples(services: Services, station: str, meter: str | None, start: float,
                       end: float) -> dict[str, list[Sample]]:
    """meter -> its indoor readings in ``[start, end)`` (one meter, or all of the station's)."""
    field = services.rules.fields.indoor_temp
    where = ' AND "meter" = $meter' if meter is not None else ""
    params: dict[str, str | int] = {"station": station, "start": _ns(start), "end": _ns(end)}
    if meter is not None:
        params["meter"] = meter
    result = await services.influx.query(
        f'SELECT "{field}" FROM "meter" WHERE "station" = $station{where} AND time >= $start '
        'AND time < $end GROUP BY "meter"', params)
    out: dict[str, list[Sample]] = {}
    for s in result[0] if result else []:
        m = s.tags.get("meter", "")
        out[m] = [(row[0] / 1000, float(row[1])) for row in s.values
                  if isinstance(row[1], int | float) and not isinstance(row[1], bool)]
    return out


async def station_supply(services: Services, station: str, now: float) -> StationSupply | None:
    """The station's newest supply against the reference ``supply_below_curve`` uses: its
    controller's setpoint, else its curve at the outdoor temperature (lowered during setback).
    """
    names = services.rules.fields
    zone = services.registry.zone_of(station)
    params = services.rules.params_for(zone, station)
    cols = (names.supply_temp, names.supply_setpoint, names.outdoor_temp, names.heat_power)
    select = ", ".join(f'last("{c}")' for c in cols)
    result = await services.influx.query(
        f'SELECT {select} FROM "telemetry" WHERE "station" = $station AND time >= $start '
        "AND time <= $end",
        {"station": station, "start": _ns(now - STATION_FRESH_S), "end": _ns(now)})
    rows = [row for s in (result[0] if result else []) for row in s.values]
    if not rows:
        return None
    supply, setpoint, outdoor, power = (_num(v) for v in rows[0][1:5])
    reference = setpoint
    if reference is None and outdoor is not None:
        p = SUPPLY_BELOW_CURVE.params(params)
        reference = curve_setpoint(outdoor, p.calibrated_curve or p.curve)
        if in_setback(now, params.heating):
            reference -= params.heating.setback_k
    delivering = None if power is None else power >= params.heating.delivering_kw
    return StationSupply(supply, reference, SUPPLY_BELOW_CURVE.params(params).tolerance_k,
                         delivering)


def open_alerts(services: Services, station: str, zone: str, meter: str | None
                ) -> list[OpenAlert]:
    """Firing alerts on the flat (a flat-scope alert whose subject is its meter), its station
    and its zone; other flats' alerts are left out."""
    out: list[OpenAlert] = []
    firing = (AlertState.FIRING,)
    station_alerts, _ = services.alerts.search(AlertFilter(states=firing, station=station,
                                                           limit=1000))
    zone_alerts, _ = services.alerts.search(AlertFilter(states=firing, zone=zone, limit=1000))
    for a in station_alerts:
        if a.scope.value == "flat":  # flat_cold, flat_sensor: subject is the flat's meter
            if a.subject == meter:
                out.append(OpenAlert(a.rule, "flat", a.subject, a.severity.value))
        elif a.scope is Scope.STATION:
            out.append(OpenAlert(a.rule, "station", a.subject, a.severity.value))
    for a in zone_alerts:
        if a.scope is Scope.ZONE:
            out.append(OpenAlert(a.rule, "zone", a.subject, a.severity.value))
    return out


async def evidence(services: Services, station: str, meter: str | None, now: float
                   ) -> Evidence:
    """Everything :func:`households.verdict.judge` needs about one flat, now."""
    zone = services.registry.zone_of(station)
    gap = services.comfort.ledger.max_gap_s
    samples: list[Sample] = []
    if meter is not None:
        samples = (await flat_samples(services, station, meter, now - DAY_S - gap,
                                      now + 1)).get(meter, [])
    return Evidence(now=now, has_sensor=_meter(services.registry.get(station), meter) is not None,
                    samples=samples, station=await station_supply(services, station, now),
                    alerts=open_alerts(services, station, zone, meter))


@dataclass(frozen=True, slots=True)
class FlatToday:
    meter: Meter
    position: int  # 1-based, in registry order among the flats of its floor
    latest_c: float | None
    latest_at: float | None
    hours_data: float
    hours_below: float
    hours_critical: float
    min_c: float | None
    mean_c: float | None
    band: str


async def station_today(services: Services, station: Station, now: float
                        ) -> tuple[date, str, list[FlatToday]]:
    """(local day, time zone, every flat of the station with its comfort so far today)."""
    tz = zone_timezone(services.rules, station.zone)
    day = datetime.fromtimestamp(now, ZoneInfo(tz)).date()
    start, _ = day_bounds(day, tz)
    p = services.comfort.ledger
    readings = await flat_samples(services, station.id, None, start - p.max_gap_s, now + 1)
    elapsed_h = max(now - start, 0.0) / 3600
    out: list[FlatToday] = []
    per_floor: dict[int | None, int] = {}
    for m in station.meters:
        per_floor[m.floor] = position = per_floor.get(m.floor, 0) + 1
        samples = readings.get(m.id, [])
        t = tally(samples, start, now, p)
        enough = elapsed_h > 0 and t.hours_data >= p.min_data_share * elapsed_h
        band, _ = band_of(t.mean_c, enough, services.comfort.bands)
        last = samples[-1] if samples and now - samples[-1][0] <= p.max_gap_s else None
        out.append(FlatToday(m, position, last[1] if last else None, last[0] if last else None,
                             t.hours_data, t.hours_below, t.hours_critical, t.min_c, t.mean_c,
                             band))
    return day, tz, out


def _meter(station: Station | None, meter: str | None) -> Meter | None:
    if station is None or meter is None:
        return None
    return next((m for m in station.meters if m.id == meter), None)


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _ns(t: float) -> int:
    return int(t * 1_000_000) * 1000
