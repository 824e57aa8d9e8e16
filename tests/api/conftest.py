"""Fixtures for the API tests: an app per test on the real InfluxDB and Mosquitto fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import AppFactory, key_entries, registry
from fastapi import FastAPI

from alerts.store import Store
from api.config import ApiSettings, load_api_settings
from api.deps import Services
from api.main import create_app
from heatwatch.local.servers import InfluxServer, MosquittoServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api_settings(
    tmp_path: Path, influx: InfluxServer, database: str, mosquitto: MosquittoServer
) -> ApiSettings:
    return load_api_settings(
        None,
        keys=key_entries(),
        alerts_db=tmp_path / "alerts.db",
        influx={"url": influx.url, "database": database, "timeout": 5.0},
        mqtt={"host": mosquitto.host, "port": mosquitto.port},
        # Tests want the data: on a loaded machine the 5-station build can outlast the default
        # 0.5 s (and the 20,000-station build of test_api_perf takes many seconds). The 503 before
        # the first snapshot is tested on its own (test_api_fleet_ready).
        cache={"ready_wait_s": 120.0},
    )


@pytest.fixture
def make_app(api_settings: ApiSettings) -> Iterator[AppFactory]:
    apps: list[FastAPI] = []

    def make(**overrides: Any) -> FastAPI:
        settings = api_settings.model_copy(update=overrides) if overrides else api_settings
        app = create_app(settings, registry=registry())
        apps.append(app)
        return app

    yield make
    for app in apps:
        services: Services = app.state.services
        services.alerts.close()
        services.complaints.close()


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c
    services: Services = app.state.services
    await services.influx.aclose()


@pytest.fixture
def store(api_settings: ApiSettings) -> Iterator[Store]:
    """The alert store the app uses, opened separately, as the engine would."""
    s = Store(api_settings.alerts_db)
    yield s
    s.close()
