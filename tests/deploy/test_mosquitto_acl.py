"""The deployment's Mosquitto entrypoint, password files and ACL, on the real broker.

Runs the shipped mosquitto.conf through deploy/mosquitto/entrypoint.sh (shipped_broker.py), so
the script that builds the password files in the container is the one tested, then checks what
each account may publish and read.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from mqtt_probe import Mqtt
from shipped_broker import SERVICE_PASSWORDS, STATIONS, shipped_broker

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd"),
]


def test_accounts_and_acl(tmp_path: Path) -> None:
    broker = shipped_broker(tmp_path)
    broker.start()
    try:
        collector = Mqtt("collector", SERVICE_PASSWORDS["MQTT_COLLECTOR_PASSWORD"],
                         client_id="t-collector")
        assert collector.connect(broker.port_of(1883)) == "ok"
        collector.subscribe("$share/collectors/heat/#")
        station = Mqtt("st-1", STATIONS["st-1"], client_id="st-1", tls=broker.tls_context())
        assert station.connect(broker.port_of(8883)) == "ok"
        for topic in ("heat/st-1/telemetry", "heat/st-1/meter/f1", "heat/st-1/status"):
            station.publish(topic, b"{}")
        # Outside its own topics: Mosquitto 2.0.11 acknowledges the publish, drops it and
        # then disconnects the station, so each attempt gets a connection of its own.
        for topic in ("heat/st-2/telemetry", "heat/_rejected"):
            denied = Mqtt("st-1", STATIONS["st-1"], client_id="st-1", tls=broker.tls_context())
            assert denied.connect(broker.port_of(8883)) == "ok"
            denied.client.publish(topic, b"{}", qos=1)
            assert denied.disconnected.wait(5)
            denied.close()
        collector.publish("heat/_rejected", b"{}")
        collector.wait_for(4, timeout=5)
        time.sleep(0.3)
        # The station reaches only its own topics; the collector may publish dead letters.
        assert sorted(t for t, _ in collector.received) == [
            "heat/_rejected", "heat/st-1/meter/f1", "heat/st-1/status", "heat/st-1/telemetry"]
        intruder = Mqtt("collector", "wrong", client_id="t-intruder")
        assert intruder.connect(broker.port_of(1883)) == "Not authorized"
        for c in (collector, station, intruder):
            c.close()
    finally:
        broker.stop()
