"""A broker crash loses at most ``autosave_interval`` seconds of queued readings (issue 13, 15).

Mosquitto keeps queued messages in memory and writes the whole in-memory database to disk every
``autosave_interval`` seconds (and on a clean stop). A SIGKILL (crash, OOM kill, power cut)
therefore loses everything that arrived since the last save: readings that stations already
had acknowledged (PUBACK) and will not send again. With the old 60 s, every reading queued for a
collector that was down in the minute before the crash was gone.

The test: the collector's persistent session is offline, a station sends readings over TLS,
the test waits the promised bound (5 s) plus a margin, kills the broker with SIGKILL, starts it
again on the same data, and the collector must find every reading in its session.
The throughput cost of the shorter interval is measured in bench/broker_autosave.py.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from mqtt_probe import Mqtt
from shipped_broker import MOSQUITTO_DIR, SERVICE_PASSWORDS, STATIONS, shipped_broker

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd"),
]

CONF = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
PROMISED_S = 5  # docs/deployment.md: a crash loses at most the last 5 s of queued readings
READINGS = 20


def test_kill_9_keeps_readings_older_than_the_autosave_interval(tmp_path: Path) -> None:
    assert "autosave_on_changes true" not in CONF, "this test assumes a time interval"
    broker = shipped_broker(tmp_path)
    broker.start()
    try:
        collector = Mqtt("collector", SERVICE_PASSWORDS["MQTT_COLLECTOR_PASSWORD"],
                         client_id="heatwatch-collector", clean=False)
        assert collector.connect(broker.port_of(1883)) == "ok"
        collector.subscribe("heat/+/telemetry")
        collector.close()
        station = Mqtt("st-1", STATIONS["st-1"], client_id="st-1", tls=broker.tls_context())
        assert station.connect(broker.port_of(8883)) == "ok"
        for seq in range(READINGS):
            station.publish("heat/st-1/telemetry", b'{"seq": %d}' % seq)  # PUBACKed
        station.close()
        time.sleep(PROMISED_S + 1.5)  # a save has certainly happened since
        broker.kill()
        broker.start()
        back = Mqtt("collector", SERVICE_PASSWORDS["MQTT_COLLECTOR_PASSWORD"],
                    client_id="heatwatch-collector", clean=False)
        assert back.connect(broker.port_of(1883)) == "ok"
        got = back.wait_for(READINGS, timeout=5)
        back.close()
        assert back.session_present, "the collector's session did not survive the crash"
        assert got == READINGS, f"{got} of {READINGS} acknowledged readings survived kill -9"
    finally:
        broker.stop()
