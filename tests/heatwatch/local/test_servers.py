from __future__ import annotations

import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import paho.mqtt.subscribe as subscribe
from paho.mqtt.enums import CallbackAPIVersion

from heatwatch.local.servers import InfluxServer, MosquittoServer


def test_influx_write_and_count(influx: InfluxServer, database: str) -> None:
    body = "telemetry,station=s1 supply_temp=50.5 1700000000000000000\n"
    r = httpx.post(f"{influx.url}/write", params={"db": database}, content=body)
    assert r.status_code == 204
    assert influx.count("telemetry", "supply_temp", db=database) == 1


def test_mosquitto_retained_roundtrip(mosquitto: MosquittoServer) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    client.publish("t/x", b"hello", qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    msg = subscribe.simple("t/x", hostname=mosquitto.host, port=mosquitto.port)
    assert msg.payload == b"hello"


def test_restart_keeps_port_and_data(own_influx: InfluxServer, tmp_path: Path) -> None:
    own_influx.create_database("d")
    httpx.post(f"{own_influx.url}/write", params={"db": "d"}, content="m v=1 1\n")
    own_influx.kill()
    own_influx.start()
    assert own_influx.count("m", "v", db="d") == 1


def test_broker_restart_keeps_queued_messages(own_mosquitto: MosquittoServer) -> None:
    """Queued QoS 1 messages for an offline persistent session survive a broker restart (as
    root this needs the ``user`` line in the generated config)."""
    import threading

    def session() -> tuple[mqtt.Client, list[bytes], threading.Event]:
        got: list[bytes] = []
        ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="keeper", clean_session=False)
        c.on_message = lambda _c, _u, m: got.append(m.payload)
        c.on_connect = lambda *_a: ready.set()
        c.connect(own_mosquitto.host, own_mosquitto.port)
        c.loop_start()
        assert ready.wait(5)
        return c, got, ready

    sub, _, _ = session()
    sub.subscribe("q/#", qos=1)
    time.sleep(0.3)
    sub.loop_stop()
    sub.disconnect()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2)
    pub.connect(own_mosquitto.host, own_mosquitto.port)
    pub.loop_start()
    for i in range(20):
        pub.publish("q/x", str(i).encode(), qos=1).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()
    own_mosquitto.restart()
    sub, got, _ = session()
    deadline = time.monotonic() + 10
    while len(got) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()
    assert sorted(int(p) for p in got) == list(range(20))
