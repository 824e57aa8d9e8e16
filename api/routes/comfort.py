"""``/comfort``: the comfort ledger per flat and day, and a station's flats today.

``GET /comfort`` reads the stored ``comfort_day`` points (written as days close, or by
``heatwatch report comfort --write``); ``GET /comfort/today`` computes the current local day
so far from the raw readings, for the operator page's grid of a station's flats.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Services, ServicesDep, Viewer
from api.errors import invalid
from api.households import station_today
from api.schemas import MAX_TIME, MIN_TIME
from heatwatch.registry import ID_PATTERN
from households.compute import MEASUREMENT, zone_timezone
from households.ledger import day_bounds

__all__ = ["router"]

router = APIRouter(prefix="/comfort", tags=["comfort"])
MAX_DAYS = 366
MAX_ROWS = 100_000  # flat-days one request may load (a city's week is millions)
NS = 1_000_000_000


class ComfortDayOut(BaseModel):
    day_start: datetime = Field(description="the local day's start (local midnight), UTC")
    zone: str
    station: str
    meter: str
    band: str = Field(description="no_data | warm | a refund band (half, full)")
    share: float = Field(description="share of the day's fee refunded")
    hours: float = Field(description="length of the local day: 23, 24 or 25")
    hours_data: float
    hours_below: float
    hours_critical: float
    min_c: float | None
    mean_c: float | None
    area_m2: float | None
    refund: float | None = Field(description="null: the flat has no area_m2")


class ComfortPage(BaseModel):
    total: int
    items: list[ComfortDayOut]


class FlatTodayOut(BaseModel):
    meter: str
    floor: int | None
    position: int = Field(description="1-based, in registry order among its floor's flats")
    top_floor: bool
    gable_end: bool
    area_m2: float | None
    latest_c: float | None
    latest_at: datetime | None
    hours_data: float
    hours_below: float
    hours_critical: float
    min_c: float | None
    mean_c: float | None
    band: str = Field(description="today so far: no_data | warm | a refund band")


class StationTodayOut(BaseModel):
    station: str
    zone: str
    day: date
    timezone: str
    standard_c: float
    critical_c: float
    flats: list[FlatTodayOut]


_COLUMNS = ("band", "share", "hours", "hours_data", "hours_below", "hours_critical", "min_c",
            "mean_c", "area_m2", "refund", "zone", "station", "meter")


@router.get("", response_model=ComfortPage, summary="Comfort ledger: one line per flat and day")
async def comfort_days(
    services: ServicesDep,
    _: Viewer,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    meter: Annotated[str | None, Query(pattern=ID_PATTERN, description="the flat")] = None,
    from_: Annotated[date | None, Query(alias="from", description="first local day; "
                                        "default: 7 days before to")] = None,
    to: Annotated[date | None, Query(description="last local day (inclusive); default: "
                                     "yesterday")] = None,
    band: Annotated[list[str] | None, Query(max_length=10, description="repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ComfortPage:
    """Stored ``comfort_day`` lines, newest day first, then by station and meter. Days are
    local to each zone; ``from``/``to`` select the days whose local start falls in them. At
    most 100,000 flat-days match (422 beyond: narrow by zone, station or days)."""
    # the bounds first: a default computed from a day near date.min would overflow
    for name, given in (("from", from_), ("to", to)):
        if given is not None and not MIN_TIME.date() <= given < MAX_TIME.date():
            raise invalid("query", name, "must be between 2000-01-01 and 2100-01-01")
    today = datetime.fromtimestamp(services.clock(), UTC).date()
    last = to or today - timedelta(days=1)
    first = from_ or last - timedelta(days=6)
    if first < MIN_TIME.date():
        raise invalid("query", "to", "must be between 2000-01-07 and 2100-01-01 without from")
    if last < first:
        raise invalid("query", "to", "to must not be before from")
    if (last - first).days >= MAX_DAYS:
        raise invalid("query", "from", f"at most {MAX_DAYS} days")
    if zone is not None:
        zones = [zone]
    elif station is not None:
        zones = [services.registry.zone_of(station)]
    else:
        zones = await _zones(services)
    where: list[str] = []
    params: dict[str, str | int] = {}
    for name, value in (("station", station), ("meter", meter)):
        if value is not None:
            where.append(f'"{name}" = ${name}')
            params[name] = value
    bands = sorted(set(band or ()))
    for i, name in enumerate(bands):
        params[f"band{i}"] = name
    if bands:
        where.append("(" + " OR ".join(f'"band" = $band{i}' for i in range(len(bands))) + ")")
    # One statement per zone: its own local midnights bound the days exactly (InfluxQL 1.x
    # cannot OR time ranges). Counted first, so a city-wide question is refused, not loaded.
    windows = []
    for z in zones:
        tz = zone_timezone(services.rules, z)
        t0, t1 = day_bounds(first, tz)[0], day_bounds(last + timedelta(days=1), tz)[0]
        windows.append((f'"zone" = $zone AND time >= {int(t0) * NS} AND time < {int(t1) * NS}'
                        + "".join(f" AND {w}" for w in where), {**params, "zone": z}))
    total = 0
    for clause, p in windows:
        counted = await services.influx.query(
            f'SELECT count("hours") FROM "{MEASUREMENT}" WHERE {clause}', p)
        total += sum(int(r[1]) for s in (counted[0] if counted else []) for r in s.values)
    if total > MAX_ROWS:
        raise invalid("query", "from", f"{total} flat-days match; at most {MAX_ROWS} per "
                      "request: narrow it by zone, station or fewer days")
    select = ", ".join(f'"{c}"' for c in _COLUMNS)
    items: list[ComfortDayOut] = []
    for clause, p in windows:
        result = await services.influx.query(
            f'SELECT {select} FROM "{MEASUREMENT}" WHERE {clause}', p)
        for s in result[0] if result else []:
            for row in s.values:
                r = dict(zip(s.columns, row, strict=False))
                items.append(ComfortDayOut(
                    day_start=datetime.fromtimestamp(r["time"] / 1000, UTC), zone=r["zone"],
                    station=r["station"], meter=r["meter"], band=r["band"], share=r["share"],
                    hours=r["hours"], hours_data=r["hours_data"], hours_below=r["hours_below"],
                    hours_critical=r["hours_critical"], min_c=r["min_c"], mean_c=r["mean_c"],
                    area_m2=r["area_m2"], refund=r["refund"]))
    items.sort(key=lambda i: (-i.day_start.timestamp(), i.zone, i.station, i.meter))
    return ComfortPage(total=len(items), items=items[offset:offset + limit])


async def _zones(services: Services) -> list[str]:
    """Zones with registered flats or with stored ledger lines."""
    zones = {st.zone for st in services.registry if st.meters}
    found = await services.influx.query(
        f'SHOW TAG VALUES FROM "{MEASUREMENT}" WITH KEY = "zone"')
    for s in found[0] if found else []:
        zones.update(str(v[1]) for v in s.values if len(v) > 1)
    return sorted(zones)


@router.get("/today", response_model=StationTodayOut,
            summary="A station's flats with today's comfort so far (operator page grid)")
async def comfort_today(
    services: ServicesDep,
    _: Viewer,
    station: Annotated[str, Query(pattern=ID_PATTERN)],
) -> StationTodayOut:
    """Every registered flat of the station, with its floor and position for the grid, and
    the ledger of the current local day from midnight to now (band by the mean so far; too
    little data so far is ``no_data``)."""
    st = services.registry.get(station)
    if st is None:
        raise invalid("query", "station", f"unknown station {station!r}")
    now = services.clock()
    day, tz, flats = await station_today(services, st, now)
    p = services.comfort.ledger
    return StationTodayOut(
        station=st.id, zone=st.zone, day=day, timezone=tz, standard_c=p.standard_c,
        critical_c=p.critical_c,
        flats=[FlatTodayOut(
            meter=f.meter.id, floor=f.meter.floor, position=f.position,
            top_floor=f.meter.top_floor, gable_end=f.meter.gable_end, area_m2=f.meter.area_m2,
            latest_c=f.latest_c,
            latest_at=None if f.latest_at is None else datetime.fromtimestamp(f.latest_at, UTC),
            hours_data=round(f.hours_data, 3), hours_below=round(f.hours_below, 3),
            hours_critical=round(f.hours_critical, 3), min_c=f.min_c,
            mean_c=None if f.mean_c is None else round(f.mean_c, 2), band=f.band)
            for f in flats])


