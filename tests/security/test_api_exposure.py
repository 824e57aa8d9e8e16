"""What the API tells and costs a caller without a key (issue 13, item 20), on the real app.

* ``/readyz`` is public (load balancers call it). It used to log in to the broker on every
  call, so anyone could make the API open MQTT connections as fast as they could send
  requests; now one probe serves every call for ``readiness.cache_s``. A counting TCP relay in
  front of the real Mosquitto counts the API's logins.
* Its body and every 503 used to carry internal URLs, host:port pairs, file paths and SQLite's
  error text; now they name the dependency only, and the details go to the log.
* Wrong API keys are limited per client address: after ``auth.max_failures`` wrong keys within
  ``auth.window_s`` that address gets 429 (even with a right key) until the window has passed;
  other addresses are not affected.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.config import load_api_settings
from api.main import create_app
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port
from heatwatch.registry import Registry, Station

pytestmark = [pytest.mark.anyio, pytest.mark.servers]

KEY = "hw_exposure-test-key-0123456789abcdef0123456789ab"
WRONG = "hw_exposure-wrong-key-000000000000000000000000000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """Wall time plus a jump the test controls (cache and rate-limit windows)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _app(tmp_path: Path, clock: Callable[[], float], **overrides: Any) -> FastAPI:
    settings = load_api_settings(
        None,
        keys=[{"name": "ops", "role": "admin", "sha256": hashlib.sha256(KEY.encode()).hexdigest()}],
        alerts_db=tmp_path / "alerts.db",
        **overrides,
    )
    return create_app(settings, registry=Registry.of([Station(id="s1", zone="north")]),
                      clock=clock)


class Relay:
    """A TCP relay to the real broker that counts the connections made through it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def clock() -> AsyncIterator[Clock]:
    yield Clock()


async def test_readyz_probes_once_per_cache_period(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, database: str,
    clock: Clock,
) -> None:
    relay = Relay(mosquitto.port)
    async with relay as port:
        app = _app(tmp_path, clock, influx={"url": influx.url, "database": database},
                   mqtt={"host": "127.0.0.1", "port": port})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            answers = await asyncio.gather(*(c.get("/readyz") for _ in range(10)))
            answers += [await c.get("/readyz") for _ in range(10)]
            assert {a.status_code for a in answers} == {200}
            assert relay.connections == 1, f"{relay.connections} MQTT logins for 20 calls"
            clock.offset += 60  # the cached answer has expired: probe again, once
            answers = await asyncio.gather(*(c.get("/readyz") for _ in range(5)))
            assert {a.status_code for a in answers} == {200}
            assert relay.connections == 2
            await app.state.services.influx.aclose()


def _leaks(text: str, tmp_path: Path, ports: list[int]) -> list[str]:
    found = [p for p in (str(tmp_path), "alerts.db", "127.0.0.1", "http://",
                         "closed database", "sqlite") if p in text]
    return found + [f":{p}" for p in ports if f":{p}" in text]


async def test_failure_bodies_name_the_dependency_only(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = free_port()
    app = _app(tmp_path, clock, influx={"url": f"http://127.0.0.1:{dead}"},
               mqtt={"host": "127.0.0.1", "port": dead})
    auth = {"Authorization": f"Bearer {KEY}"}
    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert not checks["influxdb"]["ok"] and not checks["mqtt"]["ok"]
        assert checks["alerts_db"]["ok"]
        stations = await c.get("/api/v1/stations", headers=auth)
        assert stations.status_code == 503 and stations.json()["dependency"] == "influxdb"
        app.state.services.alerts.close()  # the alert store breaks under the running API
        clock.offset += 60
        alerts = await c.get("/api/v1/alerts", headers=auth)
        assert alerts.status_code == 503 and alerts.json()["dependency"] == "alerts_db"
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and not ready.json()["checks"]["alerts_db"]["ok"]
        await app.state.services.influx.aclose()
    bodies = "\n".join(r.text for r in (ready, stations, alerts))
    assert _leaks(bodies, tmp_path, [dead]) == [], bodies
    # The operator still learns why, from the log.
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert f"127.0.0.1:{dead}" in log and "closed database" in log.lower()


async def test_wrong_keys_are_limited_per_client_address(
    tmp_path: Path, clock: Clock, influx: InfluxServer, database: str
) -> None:
    app = _app(tmp_path, clock, influx={"url": influx.url, "database": database},
               auth={"max_failures": 5, "window_s": 60})
    right = {"Authorization": f"Bearer {KEY}"}
    wrong = {"Authorization": f"Bearer {WRONG}"}
    attacker = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    neighbour = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=attacker, base_url="http://t") as a, \
            httpx.AsyncClient(transport=neighbour, base_url="http://t") as b:
        codes = [(await a.get("/api/v1/alerts", headers=wrong)).status_code for _ in range(8)]
        assert codes == [401] * 5 + [429] * 3
        blocked = await a.get("/api/v1/alerts", headers=right)
        assert blocked.status_code == 429  # guessing right during the block tells nothing
        assert 0 < int(blocked.headers["retry-after"]) <= 60
        assert (await b.get("/api/v1/alerts", headers=right)).status_code == 200
        assert (await b.get("/api/v1/alerts", headers=wrong)).status_code == 401
        clock.offset += 61
        assert (await a.get("/api/v1/alerts", headers=right)).status_code == 200
        metrics = (await a.get("/metrics")).text
        assert 'heatwatch_api_auth_failures_total{status="429"} 4.0' in metrics
        await app.state.services.influx.aclose()
