"""Before the first fleet snapshot exists, a request waits at most ``cache.ready_wait_s`` and
then gets 503 with Retry-After; the build goes on and the next request is served from it.

With 20,000 stations the build takes 6-23 s on InfluxDB 1.6 (bench/api_bench.py): a client or
a proxy would otherwise hang that long on the first list after a start. Here the real InfluxDB
answers in milliseconds, so ``ready_wait_s = 0`` stands in for "the build is not done yet".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from api_helpers import AppFactory, auth, fill_fleet, registry

from api.alertsdb import AlertsDb
from api.config import CacheSettings
from api.deps import Services
from api.fleet import FleetNotReady, SnapshotCache
from heatwatch.influx import AsyncInfluxClient
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings

pytestmark = pytest.mark.anyio


async def test_first_list_is_503_with_retry_after_until_the_snapshot_is_built(
    influx: InfluxServer, database: str, make_app: AppFactory
) -> None:
    fill_fleet(influx, database)
    app = make_app(cache=CacheSettings(ready_wait_s=0))
    services: Services = app.state.services
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        first = await c.get("/api/v1/stations", headers=auth("viewer"))
        assert first.status_code == 503
        assert first.headers["Retry-After"] == "5"  # no build finished yet: the default guess
        assert first.json() == {
            "detail": "the fleet snapshot is being built; retry after 5 s",
            "dependency": "influxdb",
        }
        build = services.fleet._waited
        assert build is not None
        snap = await build  # the request gave up, the build did not stop
        ok = await c.get("/api/v1/stations", headers=auth("viewer"))
        assert ok.status_code == 200
        assert ok.json()["total"] == len(snap.stations) == 6  # 5 registered, 1 unregistered
        detail = await c.get("/api/v1/stations/s1", headers=auth("viewer"))
        assert detail.status_code == 200
    await services.influx.aclose()


async def test_waiting_requests_share_one_build_and_retry_after_counts_down(
    influx: InfluxServer, database: str, tmp_path: Path
) -> None:
    fill_fleet(influx, database)
    client = AsyncInfluxClient(InfluxSettings(url=influx.url, database=database))
    db = AlertsDb(tmp_path / "alerts.db")
    fleet = SnapshotCache(client, db, registry(),
                  CacheSettings(ready_wait_s=0, fleet_ttl_s=0, max_stale_s=1))
    try:
        with pytest.raises(FleetNotReady) as one:
            await fleet.snapshot()
        build = fleet._waited
        with pytest.raises(FleetNotReady):
            await fleet.snapshot()
        assert fleet._waited is build, "a second request joins the build, it starts none"
        assert one.value.retry_after_s == 5
        assert build is not None
        await build
        assert (await fleet.snapshot()).stations.keys() >= {"s1", "s2", "s3", "s4", "s5"}

        await asyncio.sleep(1.1)  # older than max_stale_s: a new build, which must wait
        with pytest.raises(FleetNotReady) as again:
            await fleet.snapshot()
        assert fleet._build_s < 1
        assert again.value.retry_after_s == 1, "the last build took milliseconds: 1 s, the least"
        assert fleet._waited is not build
        await fleet._waited
    finally:
        await client.aclose()
        db.close()
