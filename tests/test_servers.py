from __future__ import annotations

from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import paho.mqtt.subscribe as subscribe
from paho.mqtt.enums import CallbackAPIVersion

from heatwatch.servers import InfluxServer, MosquittoServer


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
