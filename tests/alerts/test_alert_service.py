"""``heatwatch alerts`` end to end: real Mosquitto in, webhook on loopback and InfluxDB out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from alert_helpers import Receiver
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer

pytestmark = pytest.mark.servers


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()




def publish(broker: MosquittoServer, topic: str, payload: bytes, retain: bool = False) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def telemetry(**fields: object) -> bytes:
    body = {"ts": time.time(), "supply_temp": 55.0, "return_temp": 40.0, "pump_running": True,
            "flow": 10.0, "outdoor_temp": -10.0, **fields}
    return json.dumps(body).encode()


def test_power_loss_end_to_end(tmp_path: Path, mosquitto: MosquittoServer,
                               influx: InfluxServer, database: str,
                               receiver: Receiver) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    config = tmp_path / "alerts.yaml"
    config.write_text(json.dumps({
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": "e2e",
                 "client_id": "alerts-e2e"},
        "influx": {"url": influx.url, "database": database},
        "rules": str(rules),
        "state_db": str(tmp_path / "alerts.db"),
        "evaluate_interval_s": 0.2,
        "notifications": {"webhooks": {"oncall": {"url": receiver.url}}, "interval_s": 0.1},
        "metrics": {"port": 0, "selfstats_interval": 0.5},
    }))
    service = AlertsService(load_alerts_settings(config))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        assert service.connected.wait(10)
        time.sleep(0.3)  # let the subscription land
        publish(mosquitto, "e2e/S-01/telemetry", telemetry(power_ok=False))
        wait_for(lambda: len(receiver.bodies) >= 1)
        publish(mosquitto, "e2e/S-01/telemetry", telemetry(power_ok=True))
        wait_for(lambda: len(receiver.bodies) >= 2)
        assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]
        assert receiver.bodies[0]["alerts"][0]["labels"]["station"] == "S-01"
        assert receiver.bodies[0]["receiver"] == "oncall"
        wait_for(lambda: influx.count("alert_events", "seq", db=database) >= 2)
    finally:
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
    # Its own counters reach InfluxDB for the pipeline-health dashboard (final snapshot too).
    series = influx.query(
        "SELECT last(heatwatch_alert_readings_total) FROM heatwatch_internal "
        "WHERE service = 'alerts'", db=database)
    assert series and series[0]["values"][0][1] >= 2


def test_retained_last_will_fires_offline_on_start(tmp_path: Path, mosquitto: MosquittoServer,
                                                   receiver: Receiver) -> None:
    publish(mosquitto, "lwt/S-09/status", b"offline", retain=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "lwt",
              "client_id": "alerts-lwt"},
        rules=rules, state_db=tmp_path / "alerts.db", evaluate_interval_s=0.2,
        write_events=False, metrics={"port": 0},
        notifications={"webhooks": {"oncall": {"url": receiver.url}}, "interval_s": 0.1},
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(receiver.bodies) >= 1)
        alert = receiver.bodies[0]["alerts"][0]
        assert alert["labels"]["alertname"] == "station_offline"
        assert alert["labels"]["station"] == "S-09"
    finally:
        service.stop()
        thread.join(30)
        publish(mosquitto, "lwt/S-09/status", b"", retain=True)  # clear the retained will
