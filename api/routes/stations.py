"""``/stations``: the fleet list, one station, and one field's history.

The list and the detail read the cached fleet snapshot (:mod:`api.fleet`), so they cost no
InfluxDB query per request; history is one downsampling query for one series.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from api.alertsdb import NotFound
from api.deps import ServicesDep, Viewer
from api.errors import invalid, time_range
from api.fleet import Snapshot
from api.queries import (
    HISTORY_FIELDS,
    MAX_POINTS,
    MAX_RANGE_S,
    history_query,
    parse_resolution,
)
from api.schemas import (
    AlertOut,
    HistoryOut,
    HistoryPoint,
    MeterOut,
    StationDetail,
    StationList,
    StationSummary,
    errors,
)
from heatwatch.registry import ID_PATTERN

router = APIRouter(prefix="/stations", tags=["stations"])

StationId = Annotated[str, Path(pattern=ID_PATTERN, description="station id")]


@router.get("", response_model=StationList, summary="All stations with status")
async def list_stations(
    services: ServicesDep,
    _: Viewer,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    status: Literal["online", "offline", "alerting"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Status (offline > alerting > online), last reading and open alerts of every station.

    Served from the fleet snapshot (taken at ``as_of``), which is refreshed in the background
    every ``cache.fleet_ttl_s`` seconds or so: no InfluxDB query per request.
    """
    snap = await services.fleet.snapshot()
    return Response(snap.page(zone, status, limit, offset), media_type="application/json")


async def _station(services: ServicesDep, station_id: str) -> tuple[Snapshot, dict[str, Any]]:
    snap = await services.fleet.snapshot()
    found = snap.stations.get(station_id)
    if found is None:
        raise NotFound(f"station {station_id}")
    return snap, found


@router.get(
    "/{station_id}", response_model=StationDetail, summary="One station",
    responses=errors(404),
)
async def get_station(services: ServicesDep, _: Viewer, station_id: StationId) -> StationDetail:
    snap, summary = await _station(services, station_id)
    info = services.registry.get(station_id)
    return StationDetail(
        **StationSummary.model_validate(summary).model_dump(),
        registered=info is not None,
        report_interval_s=info.report_interval_s if info else None,
        design_supply_temp=info.design_supply_temp if info else None,
        design_return_temp=info.design_return_temp if info else None,
        design_flow=info.design_flow if info else None,
        meters=[
            MeterOut(id=m.id, floor=m.floor, top_floor=m.top_floor, gable_end=m.gable_end)
            for m in (info.meters if info else ())
        ],
        alerts=[AlertOut.of(a) for a in snap.alerts.get(station_id, [])],
    )


@router.get("/{station_id}/history", response_model=HistoryOut, summary="One field over time")
async def station_history(
    services: ServicesDep,
    _: Viewer,
    station_id: StationId,
    field: Annotated[
        str,
        Query(
            max_length=64, description="a numeric telemetry field",
            json_schema_extra={"enum": sorted(HISTORY_FIELDS)},
        ),
    ],
    start: Annotated[datetime | None, Query(description="default: end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="default: now")] = None,
    resolution: Annotated[
        str, Query(max_length=16, description="bucket: 30s, 1m, 15m, 1h, 1d ...")
    ] = "1m",
    agg: Literal["mean", "min", "max", "last"] = "mean",
) -> HistoryOut:
    """Downsampled history: ``SELECT agg(field) ... GROUP BY time(resolution)``.

    Empty buckets are left out. At most 20,000 buckets and 366 days per request. Ranges
    longer than ``history.hourly_after_s`` (7 days) at a whole-hour resolution read the hourly
    aggregates, which are kept for years (``source: hourly``); the rest the raw readings.
    """
    if field not in HISTORY_FIELDS:
        known = ", ".join(sorted(HISTORY_FIELDS))
        raise invalid("query", "field", f"unknown field; one of {known}")
    try:
        res_s = parse_resolution(resolution)
    except ValueError as exc:
        raise invalid("query", "resolution", str(exc)) from None
    t0, t1 = time_range(start, end, services.clock(), timedelta(hours=24), MAX_RANGE_S)
    span = (t1 - t0).total_seconds()
    if span / res_s > MAX_POINTS:
        raise invalid(
            "query", "resolution",
            f"{span / res_s:.0f} buckets requested, at most {MAX_POINTS}: coarser resolution",
        )
    # No existence check: it would cost a fleet query, and an unknown station simply has no
    # points (stations missing from the registry are stored too).
    history = services.settings.history
    hourly = (history.hourly_policy is not None and res_s % 3600 == 0
              and span > history.hourly_after_s)
    result = await services.influx.query(
        history_query(field, agg, res_s, history.hourly_policy if hourly else None),
        {"station": station_id, "start": _ns(t0), "end": _ns(t1)},
    )
    series = result[0] if result else []
    points = [
        HistoryPoint(t=datetime.fromtimestamp(row[0] / 1000, UTC), value=row[1])
        for s in series for row in s.values
    ]
    return HistoryOut(
        station=station_id, field=field, unit=HISTORY_FIELDS[field], agg=agg,
        resolution_s=res_s, start=t0, end=t1, points=points,
        source="hourly" if hourly else "raw",
    )


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000) * 1000
