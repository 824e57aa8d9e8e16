"""``heatwatch alerts`` with routes, end to end on the real Mosquitto: two stations of one zone
losing power within the group window reach the zone crew's webhook as one message, and the
SCADA channel (MQTT, a second route) holds each station's state retained."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from notify_recorder import HttpRecorder
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from heatwatch.local.servers import MosquittoServer

pytestmark = pytest.mark.servers


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()




def test_grouped_zone_message_and_scada_state(tmp_path: Path, mosquitto: MosquittoServer,
                                              hook: HttpRecorder) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    registry = tmp_path / "registry.yaml"
    registry.write_text(json.dumps({"stations": [
        {"id": s, "zone": "north", "report_interval_s": 60} for s in ("N-1", "N-2")]}))
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "rt",
              "client_id": "alerts-routes"},
        rules=rules, registry=registry, state_db=tmp_path / "alerts.db",
        evaluate_interval_s=0.1, write_events=False, metrics={"port": 0, "selfstats_interval": 0},
        warmup={"enabled": False},
        notifications={
            "external_url": "https://hw.example", "interval_s": 0.1,
            "webhooks": {"crew-north": {"url": f"{hook.url}/hook"}},
            "mqtt": {"scada": {"host": mosquitto.host, "port": mosquitto.port,
                               "prefix": "rt", "client_id": "alerts-routes-scada"}},
            "routes": [
                {"zones": ["north"], "receivers": ["crew-north"], "group_wait_s": 1.5,
                 "continue": True},
                {"receivers": ["scada"], "group_by": ["..."], "group_wait_s": 0},
            ],
        },
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        assert service.connected.wait(10)
        time.sleep(0.3)
        for station in ("N-1", "N-2"):
            body = {"ts": time.time(), "power_ok": False, "supply_temp": 55.0,
                    "return_temp": 40.0, "pump_running": True, "flow": 10.0}
            pub.publish(f"rt/{station}/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
            time.sleep(0.2)
        wait_for(lambda: len(hook.requests) >= 1)
        time.sleep(0.5)  # nothing else follows for this group
        (message,) = [r.body for r in hook.requests]
        assert message["groupLabels"] == {"alertname": "power_loss", "zone": "north"}
        assert sorted(a["labels"]["station"] for a in message["alerts"]) == ["N-1", "N-2"]

        states: dict[str, Any] = {}
        sub = mqtt.Client(CallbackAPIVersion.VERSION2)
        sub.on_message = lambda c, u, m: states.__setitem__(m.topic, json.loads(m.payload))
        sub.connect(mosquitto.host, mosquitto.port)
        sub.subscribe("rt/_alerts/#", qos=1)
        sub.loop_start()
        wait_for(lambda: len(states) >= 2)
        sub.loop_stop()
        sub.disconnect()
        assert {t: s["state"] for t, s in states.items()} == {
            "rt/_alerts/N-1/power_loss": "firing", "rt/_alerts/N-2/power_loss": "firing"}
    finally:
        pub.loop_stop()
        pub.disconnect()
        service.stop()
        thread.join(30)
    assert not thread.is_alive()
