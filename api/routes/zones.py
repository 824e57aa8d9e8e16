"""``/zones``: which zones exist, and how warm the flats of one zone are right now.

The distribution uses each flat's latest indoor temperature within ``cache.lookback_s``: one
InfluxQL query (``last()`` per station and meter, bound to the zone), reused for
``cache.fleet_ttl_s`` seconds because a zone of a big city has thousands of flats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.alertsdb import NotFound
from api.deps import ServicesDep, Viewer
from api.queries import ZONE_QUERY, Flat, distribution
from api.schemas import FlatTemp, ZoneDistribution, ZoneSummary, errors
from heatwatch.registry import ID_PATTERN, UNASSIGNED_ZONE

router = APIRouter(prefix="/zones", tags=["zones"])


@router.get("", response_model=list[ZoneSummary], summary="Zones of the registry")
def list_zones(services: ServicesDep, _: Viewer) -> list[ZoneSummary]:
    counts: dict[str, list[int]] = {}
    for st in services.registry:
        c = counts.setdefault(st.zone, [0, 0])
        c[0] += 1
        c[1] += len(st.meters)
    return [ZoneSummary(id=z, stations=s, flats=f) for z, (s, f) in sorted(counts.items())]


@router.get(
    "/{zone}", response_model=ZoneDistribution, summary="Indoor temperature of a zone",
    responses=errors(404),
)
async def zone_distribution(
    services: ServicesDep,
    _: Viewer,
    zone: Annotated[str, Path(pattern=ID_PATTERN)],
    below: Annotated[
        float | None, Query(ge=0, le=30, description="threshold, °C (default: cold_c)")
    ] = None,
    coldest: Annotated[int, Query(ge=0, le=500, description="how many coldest flats")] = 10,
) -> ZoneDistribution:
    """Share of flats below the threshold (18 °C by default), min, median, max, coldest flats."""
    if zone not in services.registry.zones() and zone != UNASSIGNED_ZONE:
        raise NotFound(f"zone {zone}")
    threshold = services.settings.cold_c if below is None else below
    d = distribution(await _flats(services, zone), threshold, coldest)
    return ZoneDistribution(
        zone=zone, flats_reporting=d.flats, below_c=threshold, below=d.below,
        share_below=d.share_below, min=d.min, median=d.median, max=d.max,
        coldest=[_flat(services, f) for f in d.coldest],
    )


async def _flats(services: ServicesDep, zone: str) -> list[Flat]:
    """Each flat's latest indoor temperature, reused for ``cache.fleet_ttl_s`` seconds."""
    now = services.clock()
    cached = services.zone_cache.get(zone)
    if cached is not None and now - cached[0] < services.settings.cache.fleet_ttl_s:
        return cached[1]
    since_ns = int((now - services.settings.cache.lookback_s) * 1e9)
    result = await services.influx.query(ZONE_QUERY, {"zone": zone, "since": since_ns})
    flats = [
        Flat(s.tags.get("station", ""), s.tags.get("meter", ""), float(row[1]), int(row[0]))
        for s in (result[0] if result else [])
        for row in s.values[:1]
        if row[1] is not None
    ]
    services.zone_cache[zone] = (now, flats)
    return flats


def _flat(services: ServicesDep, f: Flat) -> FlatTemp:
    station = services.registry.get(f.station)
    meter = next((m for m in station.meters if m.id == f.meter), None) if station else None
    return FlatTemp(
        station=f.station, meter=f.meter, indoor_temp=f.temp,
        last_seen=datetime.fromtimestamp(f.ts_ms / 1000, UTC),
        floor=meter.floor if meter else None,
        top_floor=meter.top_floor if meter else False,
        gable_end=meter.gable_end if meter else False,
    )
