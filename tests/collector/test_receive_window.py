"""The collector's inbound queue stays within Receive Maximum whatever the broker sends.

Debian's Mosquitto 2.0.11 refills its in-flight list past the client's Receive Maximum when
acks arrive in order; this test reproduces that against the real broker (acks in order, slower
than the publisher) and checks the source's bound: the queue never holds more than the window,
and the excess waits at the broker (TCP back-pressure) instead of in our memory.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import pytest
from collector_helpers import Publisher

from heatwatch.local.servers import MosquittoServer
from heatwatch.mqtt_source import Inbound, MqttSource, topic_filters
from heatwatch.settings import MqttSettings

WINDOW = 50
MESSAGES = 3000


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_queue_never_exceeds_receive_maximum(
    protocol: str,
    persistent_mosquitto: MosquittoServer,
    make_publisher: Callable[[MosquittoServer], Publisher],
) -> None:
    broker = persistent_mosquitto
    source = MqttSource(
        MqttSettings(host=broker.host, port=broker.port, client_id="window-test"),
        filters=topic_filters("heat", None), receive_maximum=WINDOW, session_expiry=600,
        protocol=protocol,
    )
    # The installed paho has the internals the one-write PUBACK batches rely on; if an upgrade
    # changes them the source falls back to ack() per message, and this says so.
    assert source._batched_acks
    source.start()
    assert source.wait_connected(10)
    time.sleep(0.3)  # SUBACK
    deepest = 0
    got: list[Inbound] = []
    done = threading.Event()

    def consume() -> None:  # acks in arrival order, in small batches, slower than the publisher
        nonlocal deepest
        while not done.is_set() and len(got) < MESSAGES:
            batch: list[Inbound] = []
            try:
                while len(batch) < 10:
                    batch.append(source.queue.get(timeout=0.05))
            except queue.Empty:
                pass
            deepest = max(deepest, source.queue.qsize() + len(batch))
            got.extend(batch)
            time.sleep(0.002)
            source.ack(batch)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    pub = make_publisher(broker)
    for i in range(MESSAGES):
        pub.station(f"st{i % 20:03d}", {"ts": 1_767_225_600 + i, "supply_temp": 50.0,
                                        "return_temp": 40.0, "pump_running": True, "seq": i})
    pub.wait_all(60)
    deadline = time.monotonic() + 60
    while len(got) < MESSAGES and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    consumer.join(5)
    source.stop()
    assert len(got) == MESSAGES  # every message arrives, none lost at the bound
    assert deepest <= WINDOW + 10  # queue (<= WINDOW) plus the batch in hand
    assert source.queue.qsize() == 0
