"""A receiver that hangs must not delay any other receiver (issue #13, item 8).

End to end on the real Mosquitto: five stations lose power one after another; receiver
``stuck`` accepts TCP connections and never answers (its timeout is 3 s), receiver ``good``
is a loopback recorder. With one delivery thread for everyone, every page to ``good`` waited
behind a whole timeout of ``stuck`` (the audit measured 11, 21, ... 51 s with a 10 s timeout).
Each receiver has its own worker now: ``good`` gets each page within hold (0 here: no routes)
+ 2 s of its reading. The connect timeout and the circuit breaker are tested here too.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from notify_recorder import HttpRecorder, alert, item
from paho.mqtt.enums import CallbackAPIVersion
from support import wait_for

from alerts.notify.base import Notification
from alerts.notify.breaker import Breaker, BreakerPolicy, BreakerState
from alerts.notify.delivery import Pipeline
from alerts.notify.dispatcher import RetryPolicy
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.routing import RouteTable
from alerts.rows import Batch
from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from alerts.store import Store
from heatwatch.local.servers import MosquittoServer


class HungServer:
    """Accepts every connection and never answers (reads and discards what comes)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.conns: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    h = HungServer()
    yield h
    h.close()


@pytest.fixture
def good() -> Iterator[HttpRecorder]:
    r = HttpRecorder()
    yield r
    r.close()




@pytest.mark.servers
def test_hung_receiver_does_not_delay_the_good_one(tmp_path: Path, mosquitto: MosquittoServer,
                                                   hung: HungServer,
                                                   good: HttpRecorder) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("pipeline: {startup_grace_s: 0, min_stations: 1000}\n")
    settings = load_alerts_settings(
        None,
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "hang",
              "client_id": "alerts-hang"},
        rules=rules, state_db=tmp_path / "alerts.db", evaluate_interval_s=0.1,
        write_events=False, metrics={"port": 0, "selfstats_interval": 0},
        warmup={"enabled": False},
        notifications={"interval_s": 0.1, "webhooks": {
            "stuck": {"url": hung.url, "timeout_s": 3.0},
            "good": {"url": f"{good.url}/hook"},
        }},
    )
    service = AlertsService(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    arrived: dict[str, float] = {}
    published: dict[str, float] = {}

    def watch() -> bool:
        for r in good.requests:
            for a in r.body["alerts"]:
                arrived.setdefault(a["labels"]["station"], time.monotonic())
        return len(arrived) == 5

    try:
        assert service.connected.wait(10)
        time.sleep(0.3)
        for i in range(5):
            station = f"H-{i}"
            body = {"ts": time.time(), "power_ok": False, "supply_temp": 55.0,
                    "return_temp": 40.0, "pump_running": True, "flow": 10.0}
            published[station] = time.monotonic()
            pub.publish(f"hang/{station}/telemetry", json.dumps(body), qos=1)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                watch()
                time.sleep(0.02)
        wait_for(watch, timeout=30, poll=0.02)
        delays = {s: round(arrived[s] - published[s], 2) for s in published}
        assert max(delays.values()) < 2.0, delays
        assert hung.accepted >= 1  # the stuck receiver was tried meanwhile
    finally:
        pub.loop_stop()
        pub.disconnect()
        service.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_connect_timeout_is_short_when_the_receiver_does_not_accept() -> None:
    """A listener whose accept queue is full drops new SYNs: connect hangs until its timeout.
    The webhook gives up after connect_timeout_s (retryable), not after timeout_s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue (never accepted)
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.2)
    notifier = WebhookNotifier("slow", WebhookConfig(url=f"http://127.0.0.1:{port}/",
                                                     timeout_s=30, connect_timeout_s=0.5))
    try:
        started = time.monotonic()
        result = notifier.deliver(Notification.single(item(alert(), receiver="slow")))
        took = time.monotonic() - started
    finally:
        notifier.close()
        listener.close()
        for c in fillers:
            c.close()
    assert not result.ok and result.retryable
    assert "Timeout" in result.detail
    assert took < 3.0


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    b = Breaker("r", BreakerPolicy(failures=2, cooldown_s=10))
    assert b.allow(0)
    b.record(ok=False, retryable=True, now=0)
    assert b.state(0) is BreakerState.CLOSED
    b.record(ok=False, retryable=False, now=0)  # a refused request says nothing: reset
    b.record(ok=False, retryable=True, now=1)
    b.record(ok=False, retryable=True, now=2)
    assert b.state(2) is BreakerState.OPEN and not b.allow(11)
    assert b.state(12) is BreakerState.HALF_OPEN
    assert b.allow(12) and not b.allow(12)  # one trial at a time
    b.record(ok=False, retryable=True, now=13)  # trial failed: rest again
    assert not b.allow(20) and b.allow(23)
    b.record(ok=True, retryable=False, now=23)
    assert b.state(23) is BreakerState.CLOSED and b.allow(23)


def test_open_breaker_rests_the_receiver_and_gives_up_expired_rows(store: Store) -> None:
    """Five groups due for a receiver answering 503: two tries open the breaker and the
    other three are not tried at all; past the retry budget they fail without a try (and
    the fallback hears of them)."""
    down, ops = HttpRecorder(), HttpRecorder()
    down.replies = [(503, {"error": "busy"})] * 10
    try:
        notifiers = {
            "down": WebhookNotifier("down", WebhookConfig(url=f"{down.url}/hook")),
            "ops": WebhookNotifier("ops", WebhookConfig(url=f"{ops.url}/hook")),
        }
        now = [1000.0]
        pipeline = Pipeline(store, RouteTable([], ["down", "ops"]), notifiers, lambda: now[0],
                            RetryPolicy(give_up_after_s=100), fallback_receiver="ops",
                            breaker=BreakerPolicy(failures=2, cooldown_s=30))
        rows = [item(alert(station=f"S-{i}", zone=f"z{i}", ts=1000.0), receiver="down")
                    for i in range(5)]  # five zones: five groups
        store.commit(Batch(outbox=rows))
        stats = pipeline.dispatcher.run_once(1000.0, receiver="down")
        assert (stats.messages, stats.resting) == (2, 3)
        assert len(down.requests) == 2
        now[0] = 1010.0  # cooling down: nothing tried
        stats = pipeline.dispatcher.run_once(1010.0, receiver="down")
        assert (stats.messages, len(down.requests)) == (0, 2)
        now[0] = 1101.0  # past the budget: one trial, then the rest given up untried
        stats = pipeline.dispatcher.run_once(1101.0, receiver="down")
        assert len(down.requests) == 3 and stats.failed == 5
        assert len(store.outbox(status="failed")) == 5
        pipeline.dispatcher.run_once(1101.0, receiver="ops")
        failed = [a for r in ops.requests for a in r.body["alerts"]]  # one grouped message
        assert len(failed) == 5
        assert {a["labels"]["alertname"] for a in failed} == {"notification_failed"}
        assert {a["annotations"]["receiver"] for a in failed} == {"down"}
    finally:
        for n in notifiers.values():
            n.close()
        down.close()
        ops.close()
