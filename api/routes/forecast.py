"""``/forecast``: what the forecast cycle predicts per zone and per flat (docs/forecast.md).

Read from the measurements the alerts service's forecast cycle writes (forecast/cycle.py):
per zone the newest issue's trajectory (``indoor_forecast``, one point per hour ahead) and the
risk tomorrow morning; per flat the flats at risk in the newest issue
(``indoor_forecast_flat``: only flats with some chance of going under the standard are
stored, so a flat not listed is not predicted cold).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import ServicesDep, Viewer
from heatwatch.registry import ID_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/forecast", tags=["forecast"])
NS = 1_000_000_000
LOOKBACK_S = 3 * 3600.0  # an issue older than this is no forecast any more
MORNING_HOUR = 7


class ForecastPointOut(BaseModel):
    at: datetime = Field(description="the time predicted for")
    lead_h: int
    median_c: float
    p10_c: float
    min_c: float
    share_below: float = Field(description="share of the zone's flats predicted under the "
                               "standard")
    flats: int


class ZoneForecastOut(BaseModel):
    zone: str
    issued_at: datetime | None = Field(description="null: no forecast in the last 3 h")
    points: list[ForecastPointOut]
    morning_share_below: float | None = Field(
        description="share predicted under the standard at the next 07:00 (local) within "
        "the horizon; null when it is beyond it")
    morning_at: datetime | None


class FlatForecastOut(BaseModel):
    zone: str
    station: str
    meter: str
    issued_at: datetime
    now_c: float
    min_c: float
    min_at: datetime
    below_at: datetime | None = Field(description="first time predicted under the standard "
                                      "(long enough to alert); null: not")
    p_below: float = Field(description="how sure, 0..1")
    sigma_c: float = Field(description="the model's error at that lead, K")
    action: str = Field(description="smallest change to the station's plan that keeps it "
                        "warm (empty: none found or not needed)")


class ForecastOut(BaseModel):
    zones: list[ZoneForecastOut]
    flats: list[FlatForecastOut]


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@router.get("", response_model=ForecastOut, summary="Predicted indoor temperature per zone "
            "and flats predicted cold")
async def forecast(
    services: ServicesDep,
    _: Viewer,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> ForecastOut:
    """The newest forecast cycle (within the last 3 h): each zone's predicted median, p10,
    minimum and share under the standard for every hour ahead, the share predicted under it
    at the next 07:00, and the flats at risk (filter by ``zone`` or ``station``)."""
    now = services.clock()
    since = int((now - LOOKBACK_S) * NS)
    where = f"time >= {since}"
    params: dict[str, str | int] = {}
    if zone is not None:
        where += ' AND "zone" = $zone'
        params["zone"] = zone
    elif station is not None:
        params["zone"] = services.registry.zone_of(station)
        where += ' AND "zone" = $zone'
    zones = await _zones(services, where, params, now)
    fwhere = f"time >= {since}"
    fparams: dict[str, str | int] = {}
    for name, value in (("zone", zone), ("station", station)):
        if value is not None:
            fwhere += f' AND "{name}" = ${name}'
            fparams[name] = value
    flats = await _flats(services, fwhere, fparams)
    return ForecastOut(zones=zones, flats=flats)


async def _zones(services: ServicesDep, where: str, params: dict[str, str | int],
                 now: float) -> list[ZoneForecastOut]:
    # points are stamped with their target time: the newest issue reaches up to 12 h ahead
    result = await services.influx.query(
        'SELECT "median_c", "p10_c", "min_c", "share_below", "flats", "issued_at" FROM '
        f'"indoor_forecast" WHERE {where} AND time <= {int((now + 2 * 86400) * NS)} '
        'GROUP BY "zone", "lead"', params)
    by_zone: dict[str, list[tuple[float, int, list[Any]]]] = {}
    for s in result[0] if result else []:
        z = s.tags.get("zone", "")
        lead = int(s.tags.get("lead", "0h").rstrip("h") or 0)
        for row in s.values:
            by_zone.setdefault(z, []).append((float(row[6]), lead, row))
    out = []
    for z, rows in sorted(by_zone.items()):
        issued = max(r[0] for r in rows)
        newest = sorted((r for r in rows if r[0] == issued), key=lambda r: r[1])
        points = [ForecastPointOut(at=_dt(r[2][0] / NS), lead_h=r[1], median_c=r[2][1],
                                   p10_c=r[2][2], min_c=r[2][3], share_below=r[2][4],
                                   flats=int(r[2][5])) for r in newest]
        morning = _morning(services, z, issued)
        hit = next((p for p in points if p.at.timestamp() >= morning), None)
        out.append(ZoneForecastOut(
            zone=z, issued_at=_dt(issued), points=points,
            morning_share_below=hit.share_below if hit is not None else None,
            morning_at=_dt(morning) if hit is not None else None))
    return out


def _morning(services: ServicesDep, zone: str, issued: float) -> float:
    from forecast.summary import next_local

    tz = services.rules.params_for(zone).heating.timezone
    return next_local(issued, MORNING_HOUR, tz)


async def _flats(services: ServicesDep, where: str,
                 params: dict[str, str | int]) -> list[FlatForecastOut]:
    result = await services.influx.query(
        'SELECT "now_c", "min_c", "min_at", "below_at", "p_below", "sigma_c", "action" FROM '
        f'"indoor_forecast_flat" WHERE {where} GROUP BY "zone", "station", "meter" '
        "ORDER BY time DESC LIMIT 1", params)
    series = result[0] if result else []
    newest = max((s.values[0][0] for s in series if s.values), default=None)
    out = []
    for s in series:
        if not s.values or s.values[0][0] != newest:
            continue  # only the newest issue: older rows are flats no longer at risk
        t, now_c, min_c, min_at, below_at, p, sigma, action = s.values[0]
        out.append(FlatForecastOut(
            zone=s.tags.get("zone", ""), station=s.tags.get("station", ""),
            meter=s.tags.get("meter", ""), issued_at=_dt(t / NS), now_c=now_c, min_c=min_c,
            min_at=_dt(min_at), below_at=_dt(below_at) if below_at else None, p_below=p,
            sigma_c=sigma, action=action or ""))
    return sorted(out, key=lambda f: (-f.p_below, f.station, f.meter))
