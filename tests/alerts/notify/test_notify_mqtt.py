"""MQTT channel against the real Mosquitto: retained alert state per station/zone topic that
a SCADA screen subscribing later still reads; resolved stays retained as resolved."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from notify_recorder import alert, item, resolved
from paho.mqtt.enums import CallbackAPIVersion

from alerts.model import EventKind, Severity
from alerts.notify.base import Notification
from alerts.notify.mqtt import MqttChannelConfig, MqttNotifier
from heatwatch.local.servers import MosquittoServer, free_port

pytestmark = pytest.mark.servers
_prefix = itertools.count()


def retained(broker: MosquittoServer, pattern: str, expect: int) -> dict[str, dict[str, Any]]:
    """Subscribe as a screen that just started: what does the broker hand over?"""
    got: dict[str, dict[str, Any]] = {}
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        assert msg.retain
        got[msg.topic] = json.loads(msg.payload)
        if len(got) >= expect:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(pattern, qos=1)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return got


def notifier(port: int, prefix: str, timeout_s: float = 5) -> MqttNotifier:
    config = MqttChannelConfig(port=port, prefix=prefix, client_id=f"notify-{prefix}",
                               timeout_s=timeout_s)
    return MqttNotifier("scada", config, language="en", external_url="https://hw.example",
                        timezone="UTC")


def test_retained_state_firing_then_resolved(mosquitto: MosquittoServer) -> None:
    prefix = f"nt{next(_prefix)}"
    n = notifier(mosquitto.port, prefix)
    leak = alert()
    cold = alert("zone_cold", None, value=0.3, severity=Severity.WARNING,
                 annotations={"flats_affected": "37", "flats_total": "120",
                                                 "min_indoor_c": "14.2",
                                                 "median_indoor_c": "17.1"})
    note = Notification("scada", "g", {}, (item(leak), item(cold)))
    try:
        assert n.deliver(note).ok
        states = retained(mosquitto, f"{prefix}/_alerts/#", 2)
        station = states[f"{prefix}/_alerts/S-01/makeup_surge"]
        assert station["state"] == "firing" and station["severity"] == "critical"
        assert station["station"] == "S-01" and station["zone"] == "north"
        assert station["text"] == "make-up 4.2 % of circulating flow (0.42 of 10 m³/h)"
        assert station["since"] == "2026-01-15T12:00:00.000Z"
        assert station["url"] == "https://hw.example/#/alerts/makeup_surge-S-01-1"
        zone = states[f"{prefix}/_alerts/_zone/north/zone_cold"]
        assert zone["state"] == "firing" and "37 of 120 flats" in zone["text"]

        done = resolved(leak, leak.active_at + 600)
        assert n.deliver(Notification.single(item(done, EventKind.RESOLVED))).ok
        states = retained(mosquitto, f"{prefix}/_alerts/S-01/#", 1)
        station = states[f"{prefix}/_alerts/S-01/makeup_surge"]
        assert station["state"] == "resolved"
        assert station["resolved_at"] == "2026-01-15T12:10:00.000Z"
    finally:
        n.close()


def test_broker_down_is_retryable() -> None:
    n = notifier(free_port(), "down", timeout_s=0.5)
    try:
        result = n.deliver(Notification.single(item(alert())))
        assert not result.ok and result.retryable
    finally:
        n.close()
