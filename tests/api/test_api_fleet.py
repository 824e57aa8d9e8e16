"""The fleet snapshot cache: fresh, stale-while-revalidate, and waiting only when it must."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api_helpers import fill_fleet, registry, write_lines

from api.alertsdb import AlertsDb
from api.config import CacheSettings
from api.fleet import SnapshotCache
from heatwatch.influx import AsyncInfluxClient, InfluxUnavailable
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_stale_snapshot_is_served_while_one_refresh_runs(
    influx: InfluxServer, database: str, tmp_path: Path
) -> None:
    fill_fleet(influx, database)
    clock = Clock(time.time())
    seen: list[str] = []
    client = AsyncInfluxClient(InfluxSettings(url=influx.url, database=database))
    db = AlertsDb(tmp_path / "alerts.db")
    fleet = SnapshotCache(client, db, registry(), CacheSettings(fleet_ttl_s=5, max_stale_s=60),
                  clock=clock, on_cache=seen.append)
    try:
        first = await fleet.snapshot()
        assert seen == ["miss"]
        assert await fleet.snapshot() is first and seen[-1] == "hit"

        write_lines(influx, database, [f"telemetry,station=s5,zone=south supply_temp=61.0,"
                                       f"return_temp=40.0,pump_running=true {int(clock.now)}"])
        clock.now += 10  # stale: served at once, one refresh starts
        assert await fleet.snapshot() is first and seen[-1] == "stale"
        task = fleet._task
        assert task is not None
        assert await fleet.snapshot() is first and fleet._task is task  # still just one
        await task
        second = await fleet.snapshot()
        assert second is not first and seen[-1] == "hit"
        assert second.stations["s5"]["last"]["supply_temp"] == 61.0

        clock.now += 120  # too old to serve: the request waits for a fresh build
        third = await fleet.snapshot()
        assert third is not second and seen[-1] == "miss"
    finally:
        await client.aclose()
        db.close()


async def test_failed_refresh_keeps_serving_then_reports(
    influx: InfluxServer, database: str, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    good = AsyncInfluxClient(InfluxSettings(url=influx.url, database=database))
    db = AlertsDb(tmp_path / "alerts.db")
    fleet = SnapshotCache(good, db, registry(), CacheSettings(fleet_ttl_s=5, max_stale_s=60),
                  clock=clock)
    try:
        first = await fleet.snapshot()
        fleet.influx = AsyncInfluxClient(InfluxSettings(url=f"http://127.0.0.1:{free_port()}"))
        clock.now += 10
        assert await fleet.snapshot() is first
        assert fleet._task is not None
        await fleet._task  # fails, logged, not raised
        assert await fleet.snapshot() is first  # no retry storm right after a failure
        clock.now += 100
        with pytest.raises(InfluxUnavailable, match="unreachable"):
            await fleet.snapshot()
        await fleet.influx.aclose()
    finally:
        await good.aclose()
        db.close()
