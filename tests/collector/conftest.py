"""Fixtures for the collector tests (helpers live in collector_helpers.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from collector_helpers import Publisher
from influx2_double import Influx2Double, influx2_double

from collector.config import CollectorSettings
from collector.service import Collector
from heatwatch.local.servers import MosquittoServer


@pytest.fixture
def influx2() -> Iterator[Influx2Double]:
    """An InfluxDB 2.x write API double of this test's own (influx2_double.py)."""
    with influx2_double() as double:
        yield double


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A broker of this test's own whose restart keeps sessions and queued messages
    (heatwatch.local.servers runs Mosquitto as the current user so it can write its persistence)."""
    server = MosquittoServer(tmp_path / "persistent-mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_publisher() -> Iterator[Callable[[MosquittoServer], Publisher]]:
    made: list[Publisher] = []

    def make(server: MosquittoServer) -> Publisher:
        pub = Publisher(server)
        made.append(pub)
        return pub

    yield make
    for pub in made:
        pub.close()


@pytest.fixture
def run_collector() -> Iterator[Callable[[CollectorSettings], Collector]]:
    """Start collectors (connected and subscribed) and stop them at teardown."""
    started: list[Collector] = []

    def run(settings: CollectorSettings) -> Collector:
        c = Collector(settings)
        c.start()
        started.append(c)
        assert c.source.wait_connected(20), "collector did not connect to the broker"
        time.sleep(0.3)  # SUBACK round trip
        return c

    yield run
    for c in started:
        c.stop(timeout=10)
