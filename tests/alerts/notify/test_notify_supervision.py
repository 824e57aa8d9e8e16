"""The delivery threads are supervised (issue #13, item 9): an unexpected exception is logged,
counted and the thread restarted, and ``/healthz`` and ``/metrics`` of the service show it.

Before, one exception in the delivery thread ended it silently: evaluation carried on,
alerts were recorded, and no page ever left again. The fault is injected into the webhook
channel (a bug raising ``RuntimeError`` on its first message); the supervisor under test is
the real one, end to end on the real Mosquitto.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from notify_recorder import HttpRecorder
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from alerts.notify.base import Notification, SendResult
from alerts.notify.webhook import WebhookNotifier
from alerts.notify.workers import Supervised
from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from heatwatch.local.servers import MosquittoServer, free_port


@pytest.fixture
def hook() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()




def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.servers
def test_delivery_thread_crash_is_restarted_counted_and_shown(
        tmp_path: Path, mosquitto: MosquittoServer, hook: HttpRecorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = WebhookNotifier.deliver
    calls = {"n": 0}

    def buggy(self: WebhookNotifier, note: Notification) -> SendResult:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug in a channel")
        return real(self, note)

    monkeypatch.setattr(WebhookNotifier, "deliver", buggy)
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    port = free_port()
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "sup",
              "client_id": "alerts-sup"},
        rules=rules, state_db=tmp_path / "alerts.db", evaluate_interval_s=0.1,
        write_events=False, metrics={"port": port, "selfstats_interval": 0},
        warmup={"enabled": False},
        notifications={"interval_s": 0.1, "restart_backoff_s": 0.2,
                       "webhooks": {"oncall": {"url": f"{hook.url}/hook"}}},
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert service.connected.wait(10)
        time.sleep(0.3)
        body = {"ts": time.time(), "power_ok": False, "supply_temp": 55.0,
                "return_temp": 40.0, "pump_running": True, "flow": 10.0}
        pub.publish("sup/S-1/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
        wait_for(lambda: len(hook.requests) >= 1)  # sent after the restart
        assert calls["n"] == 2
        health: dict[str, Any] = httpx.get(f"{base}/healthz", timeout=5).json()
        worker = health["threads"]["receiver:oncall"]
        assert health["status"] == "ok" and worker["up"]
        assert worker["restarts"] == 1 and "RuntimeError: bug in a channel" in worker["last_error"]
        text = httpx.get(f"{base}/metrics", timeout=5).text
        assert metric(text, 'heatwatch_alert_delivery_restarts_total{thread="receiver:oncall"}'
                      ) == 1.0
        assert metric(text, 'heatwatch_alert_delivery_up{thread="receiver:oncall"}') == 1.0
        assert metric(text, 'heatwatch_alert_delivery_restarts_total{thread="route"}') is None
    finally:
        pub.loop_stop()
        pub.disconnect()
        service.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_a_thread_that_keeps_crashing_shows_as_down() -> None:
    """Restarted with growing backoff, reported down between restarts (healthz 503)."""
    stop = threading.Event()
    ran = threading.Event()

    def step() -> None:
        ran.set()
        raise ValueError("corrupt row")

    t = Supervised("receiver:broken", step, interval_s=0.01, stop=stop, restart_backoff_s=0.05)
    t.start()
    try:
        wait_for(lambda: t.restarts >= 3, timeout=5)
        h = t.health(time.time())
        assert h["restarts"] >= 3 and h["last_error"] == "ValueError: corrupt row"
        wait_for(lambda: not t.health(time.time())["up"], timeout=5)
    finally:
        stop.set()
        t.join(5)
    assert not t.thread.is_alive()


def test_a_crash_after_good_passes_restarts_after_the_base_wait() -> None:
    """The doubling wait is for a loop that crashes at once; a thread that ran fine for a
    while before its next crash is restarted after the base wait again."""
    stop = threading.Event()
    calls = {"n": 0}
    crashed_at: list[float] = []

    def step() -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 0:  # two good passes, then a crash
            crashed_at.append(time.monotonic())
            raise ValueError("now and then")

    t = Supervised("route", step, interval_s=0.01, stop=stop, restart_backoff_s=0.2)
    t.start()
    try:
        wait_for(lambda: t.restarts >= 4, timeout=5)
    finally:
        stop.set()
        t.join(5)
    gaps = [b - a for a, b in itertools.pairwise(crashed_at)]
    assert max(gaps[:3]) < 0.6, gaps  # 0.2 s + two passes each time, never 0.4, 0.8, ...
