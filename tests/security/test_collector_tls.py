"""The real collector over TLS with a username and password, into the real InfluxDB.

MqttSettings has ``tls``, ``ca_file``, ``username`` and ``password``; these tests prove the
client factory (heatwatch/mqtt.py) really applies them (a collector that silently ignored ``tls``
would fail the handshake; one that ignored the password would be refused), that what a station may
not publish never gets stored, and that no secret turns up in the collector's DEBUG log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from mqtt_clients import Probe
from security_helpers import ACCOUNTS, SecureBroker
from support import wait_for

from collector.config import CollectorSettings, load_collector_settings
from collector.service import Collector
from heatwatch.local.servers import InfluxServer

pytestmark = pytest.mark.servers

INFLUX_PASSWORD = "Infl-Q93z-secret-pw"


def _settings(tmp: Path, broker: SecureBroker, influx: InfluxServer, db: str,
              password: str) -> CollectorSettings:
    return load_collector_settings(
        None,
        mqtt={"host": "127.0.0.1", "port": broker.tls_port, "tls": True,
              "ca_file": str(broker.pki.ca), "username": "collector", "password": password,
              "client_id": f"sec-collector-{tmp.name}", "reconnect_min_delay": 0.2,
              "reconnect_max_delay": 1.0},
        # InfluxDB here runs without auth and ignores credentials; they are configured so the
        # log checks below see them in the settings the collector holds.
        influx={"url": influx.url, "database": db, "username": "hw", "password": INFLUX_PASSWORD,
                "timeout": 5.0},
        batch={"flush_interval": 0.2},
        spool={"dir": str(tmp / "spool")},
        dead_letter={"file": str(tmp / "rejected.jsonl"), "publish": True},
        metrics={"port": 0, "log_interval": 1.0, "selfstats_interval": 0.0},
        log_level="DEBUG",
    )


@pytest.fixture
def collector_factory() -> Iterator[list[Collector]]:
    made: list[Collector] = []
    yield made
    for c in made:
        c.stop(timeout=10)


def test_collector_over_tls_with_password_stores_readings(
    tmp_path: Path, secure_broker: SecureBroker, influx: InfluxServer, database: str,
    collector_factory: list[Collector], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    collector = Collector(_settings(tmp_path, secure_broker, influx, database,
                                    ACCOUNTS["collector"]))
    collector_factory.append(collector)
    collector.start()
    assert collector.source.wait_connected(20), "collector did not connect over TLS"
    time.sleep(0.3)  # SUBACK

    watcher = Probe(username="collector", password=ACCOUNTS["collector"], ca=secure_broker.pki.ca)
    assert watcher.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    watcher.subscribe("heat/_rejected")
    station = Probe(username="st-00001", password=ACCOUNTS["st-00001"], ca=secure_broker.pki.ca)
    assert station.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    now_ms = int(time.time() * 1000)
    readings = [{"ts": now_ms - 10_000 * i, "supply_temp": 70.0, "return_temp": 40.0,
                 "pump_running": True} for i in range(50)]
    for i in range(0, 50, 10):
        code = station.publish("heat/st-00001/telemetry", orjson.dumps(readings[i:i + 10]))
        assert code is not None and not code.is_failure
    # Forged: st-00001 writing as st-00002 (refused by the ACL, never stored).
    forged = station.publish("heat/st-00002/telemetry", orjson.dumps(readings[0]))
    assert forged is not None and forged.is_failure
    # One bad reading: dead-lettered, and the collector account may publish the dead letter.
    station.publish("heat/st-00001/telemetry", b'{"ts": 1, "supply_temp": "hot"}')

    wait_for(lambda: influx.count("telemetry", "supply_temp", db=database) >= 50, 30,
             "50 readings stored")
    wait_for(lambda: len(watcher.received) >= 1, 10, "the dead letter published")
    time.sleep(0.5)
    station.close()
    watcher.close()
    assert influx.count("telemetry", "supply_temp", db=database) == 50
    assert influx.count("telemetry", "supply_temp", db=database,
                        where="\"station\" = 'st-00002'") == 0
    assert [t for t, _p in watcher.received] == ["heat/_rejected"]
    stats = collector.stats()
    assert stats["readings"] == 50 and stats["rejected"] == 1
    collector.stop(timeout=10)
    collector_factory.clear()
    logs = caplog.text + repr(collector.settings) + str(stats)
    assert "connected to MQTT" in caplog.text  # the DEBUG log was captured
    for secret in (ACCOUNTS["collector"], INFLUX_PASSWORD):
        assert secret not in logs


def test_collector_with_a_wrong_password_stays_out_and_does_not_log_it(
    tmp_path: Path, secure_broker: SecureBroker, influx: InfluxServer, database: str,
    collector_factory: list[Collector], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-7Yt1-secret-pw"
    collector = Collector(_settings(tmp_path, secure_broker, influx, database, wrong))
    collector_factory.append(collector)
    collector.start()
    assert not collector.source.wait_connected(3)
    wait_for(lambda: "refused the connection" in caplog.text, 10,
             lambda: f"the refusal in the log: {caplog.text[-2000:]}")
    collector.stop(timeout=10)
    collector_factory.clear()
    assert wrong not in caplog.text and ACCOUNTS["collector"] not in caplog.text
    assert INFLUX_PASSWORD not in caplog.text
