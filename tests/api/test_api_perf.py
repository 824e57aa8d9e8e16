"""The performance targets, checked at city size on the real InfluxDB (a spot check, not the
benchmark): 20,000 stations listed from the snapshot in < 300 ms, 24 h of one station at 1 min
in < 200 ms. Also shows why the snapshot exists: building it takes seconds on InfluxDB 1.6."""

from __future__ import annotations

import time

import httpx
import pytest
from api_helpers import AppFactory, auth, write_lines

from api.main import create_app
from heatwatch.local.servers import InfluxServer
from heatwatch.registry import Registry, Station

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
N = 20_000
FIELDS = "supply_temp={v},return_temp=40.5,pump_running=true,flow=3.2,supply_pressure=4.1"


async def test_city_size_targets(
    make_app: AppFactory, influx: InfluxServer, database: str
) -> None:
    now = int(time.time())
    lines = [f"telemetry,station=st{i:05d},zone=z{i % 50:02d} {FIELDS.format(v=60 + k)} "
             f"{now - 30 + 10 * k}" for i in range(N) for k in range(2)]
    lines += [f"telemetry,station=st00000,zone=z00 {FIELDS.format(v=50 + k % 20)} "
              f"{now - 86400 + 10 * k}" for k in range(8640)]
    for i in range(0, len(lines), 20_000):
        write_lines(influx, database, lines[i:i + 20_000])
    reg = Registry.of(Station(id=f"st{i:05d}", zone=f"z{i % 50:02d}") for i in range(N))
    base = make_app()
    app = create_app(base.state.services.settings, registry=reg)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        started = time.perf_counter()
        await app.state.services.fleet.snapshot()  # what start-up does in the background
        build_s = time.perf_counter() - started

        timings = []
        for _ in range(3):
            t = time.perf_counter()
            resp = await c.get("/api/v1/stations", headers=auth("viewer"))
            timings.append(time.perf_counter() - t)
        body = resp.json()
        assert body["total"] == N
        assert sum(s["status"] == "online" for s in body["items"]) == N
        assert min(timings) < 0.3, (timings, build_s)

        timings = []
        for _ in range(3):
            t = time.perf_counter()
            resp = await c.get("/api/v1/stations/st00000/history",
                               params={"field": "supply_temp", "resolution": "1m"},
                               headers=auth("viewer"))
            timings.append(time.perf_counter() - t)
        assert len(resp.json()["points"]) in (1440, 1441)
        assert min(timings) < 0.2, timings
        await app.state.services.influx.aclose()
    app.state.services.alerts.close()
