"""The engine's MQTT inbox is bounded and persistent (issue #13, item 10), on the real
Mosquitto: while the engine is stalled (its ``observe`` blocked: a slow evaluation or a
store held elsewhere) the inbox holds at most ``inbox.max_messages`` and the rest waits at
the broker; the engine is then stopped and a new one started with the same client id, and
every one of the published readings is observed - none lost, memory bounded throughout.
Before, the inbox was an unbounded queue behind a clean session: it grew with every message
while the engine stalled, and a restart lost whatever had not been observed."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.engine import Engine
from alerts.service import AlertsService
from alerts.settings import AlertsSettings, load_alerts_settings
from heatwatch.local.servers import MosquittoServer
from heatwatch.wire import Reading

pytestmark = pytest.mark.servers

N = 400


def settings(tmp_path: Path, broker: MosquittoServer) -> AlertsSettings:
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    return load_alerts_settings(
        None,
        mqtt={"host": broker.host, "port": broker.port, "prefix": "inb",
              "client_id": "alerts-inbox"},
        rules=rules, state_db=tmp_path / "alerts.db", evaluate_interval_s=0.2,
        write_events=False, metrics={"port": 0, "selfstats_interval": 0},
        warmup={"enabled": False}, inbox={"max_messages": 20},
    )


def test_stalled_engine_keeps_a_bounded_inbox_and_a_restart_loses_nothing(
        tmp_path: Path, mosquitto: MosquittoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[int] = set()
    stalled = threading.Event()
    release = threading.Event()
    real = Engine.observe

    def observe(self: Engine, reading: Reading, received_at: float) -> None:
        if not release.is_set():
            stalled.set()
            release.wait(30)
        seen.add(reading.ts_ns)
        real(self, reading, received_at)

    monkeypatch.setattr(Engine, "observe", observe)
    first = AlertsService(settings(tmp_path, mosquitto))
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        assert first.connected.wait(10)
        time.sleep(0.3)
        t0 = time.time() - N
        for i in range(N):
            body = {"ts": t0 + i, "supply_temp": 55.0, "return_temp": 40.0, "flow": 10.0}
            pub.publish("inb/Q-1/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
        assert stalled.wait(10)
        time.sleep(1.0)  # the network thread had every chance to read more
        assert first.inbox.qsize() <= 20
        first.stop()
        release.set()
        thread.join(30)
        assert not thread.is_alive()
        assert len(seen) < N / 2  # most of it still at the broker

        second = AlertsService(settings(tmp_path, mosquitto))
        thread = threading.Thread(target=second.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < N:
            time.sleep(0.05)
        second.stop()
        thread.join(30)
    finally:
        release.set()
        pub.loop_stop()
        pub.disconnect()
    assert len(seen) == N
