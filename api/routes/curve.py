"""``/stations/{id}/curve``: a station's weather curve in effect against its readings.

``heatwatch rules calibrate`` learns a curve per station; before an engineer trusts it they
want to see it drawn through the station's own (outdoor, supply) readings. This endpoint gives
both: the curve ``supply_below_curve`` uses for the station (its calibrated curve from the rules
file, else the zone/default curve, and which reference the rule uses for the newest readings)
and the readings of the period, averaged into at most :data:`MAX_SAMPLES` buckets by one
downsampling query.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from alerts.rules.temperature import SUPPLY_BELOW_CURVE
from api.deps import ServicesDep, Viewer
from api.errors import time_range
from heatwatch.registry import ID_PATTERN

__all__ = ["MAX_SAMPLES", "router"]

router = APIRouter(prefix="/stations", tags=["stations"])

MAX_SAMPLES = 2000  # points of the scatter: enough to see a season's shape, light to draw
MAX_SPAN_S = 366 * 86400.0

StationId = Annotated[str, Path(pattern=ID_PATTERN, description="station id")]
Reference = Literal["supply_setpoint", "calibrated_curve", "curve"]


class CurvePointOut(BaseModel):
    outdoor_c: float
    supply_c: float


class WindowOut(BaseModel):
    start: time
    end: time


class SetbackOut(WindowOut):
    k: float = Field(description="setpoint cut during the window, K")


class CurveSample(BaseModel):
    t: datetime = Field(description="start of the bucket")
    outdoor_c: float
    supply_c: float
    setpoint_c: float | None = Field(description="the controller's own supply_setpoint")
    heat_power_kw: float | None


class CurveOut(BaseModel):
    station: str
    zone: str
    start: datetime
    end: datetime
    reference: Reference = Field(
        description="what supply_below_curve compares the newest reading against: its "
        "supply_setpoint when it carries one, else the calibrated curve, else the curve")
    calibrated: bool = Field(description="the station has a calibrated_curve in the rules")
    curve: list[CurvePointOut] = Field(description="the curve in effect for the station")
    default_curve: list[CurvePointOut] = Field(description="the zone/default curve")
    timezone: str
    off_windows: list[WindowOut]
    setback: SetbackOut | None
    warmup_s: float
    tolerance_k: float
    bucket_s: int = Field(description="readings are averaged per bucket of this length")
    samples: list[CurveSample]


@router.get("/{station_id}/curve", response_model=CurveOut,
            summary="The station's weather curve in effect, against its readings")
async def station_curve(
    services: ServicesDep,
    _: Viewer,
    station_id: StationId,
    start: Annotated[datetime | None, Query(description="default: end - 30 days")] = None,
    end: Annotated[datetime | None, Query(description="default: now")] = None,
) -> CurveOut:
    """The curve ``supply_below_curve`` uses for the station (rules file: ``rules`` in the API
    settings) and its (outdoor, supply) readings of the period, bucket means (at most 2,000
    buckets, empty buckets left out, up to 366 days)."""
    t0, t1 = time_range(start, end, services.clock(), timedelta(days=30), MAX_SPAN_S)
    span = (t1 - t0).total_seconds()
    bucket = max(60, -(-int(span) // MAX_SAMPLES))
    zone = services.registry.zone_of(station_id)
    params = services.rules.params_for(zone, station_id)
    names = services.rules.fields
    cols = [names.outdoor_temp, names.supply_temp, names.supply_setpoint, names.heat_power]
    select = ", ".join(f'mean("{c}")' for c in cols)
    result = await services.influx.query(
        f'SELECT {select} FROM "telemetry" WHERE "station" = $station AND time >= $start '
        f"AND time < $end GROUP BY time({bucket}s) fill(none)",
        {"station": station_id, "start": _ns(t0), "end": _ns(t1)},
    )
    samples = [
        CurveSample(t=datetime.fromtimestamp(row[0] / 1000, UTC), outdoor_c=row[1],
                    supply_c=row[2], setpoint_c=row[3], heat_power_kw=row[4])
        for s in (result[0] if result else []) for row in s.values
        if isinstance(row[1], int | float) and isinstance(row[2], int | float)
    ]
    sbc = SUPPLY_BELOW_CURVE.params(params)
    in_effect = sbc.calibrated_curve or sbc.curve
    reference: Reference = "calibrated_curve" if sbc.calibrated_curve else "curve"
    if samples and samples[-1].setpoint_c is not None:
        reference = "supply_setpoint"
    heating = params.heating
    setback = None
    if heating.setback_start is not None and heating.setback_end is not None:
        setback = SetbackOut(start=heating.setback_start, end=heating.setback_end,
                             k=heating.setback_k)
    return CurveOut(
        station=station_id, zone=zone, start=t0, end=t1, reference=reference,
        calibrated=sbc.calibrated_curve is not None,
        curve=[CurvePointOut(outdoor_c=p.outdoor_c, supply_c=p.supply_c) for p in in_effect],
        default_curve=[CurvePointOut(outdoor_c=p.outdoor_c, supply_c=p.supply_c)
                       for p in sbc.curve],
        timezone=heating.timezone,
        off_windows=[WindowOut(start=w.start, end=w.end) for w in heating.off_windows],
        setback=setback, warmup_s=heating.warmup_s, tolerance_k=sbc.tolerance_k,
        bucket_s=bucket, samples=samples,
    )


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000) * 1000
