"""Shared fixtures: the real Mosquitto and InfluxDB on free loopback ports.

Session-scoped servers serve tests that only publish and count; tests that stop, kill or
restart a server take the function-scoped ``own_mosquitto`` / ``own_influx`` instead so they
never disturb their neighbours.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from heatwatch.local.servers import InfluxServer, MosquittoServer

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path / "own-mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_influx(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "own-influxdb")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database(influx: InfluxServer) -> str:
    """A fresh database name on the shared InfluxDB, so tests never see each other's data."""
    name = f"test_{next(_db_counter)}"
    influx.create_database(name)
    return name
