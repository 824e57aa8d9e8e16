"""The deployment's Mosquitto entrypoint, password file and ACL, on the real broker.

Runs deploy/mosquitto/entrypoint.sh itself (pointed at a temporary directory) so the script
that builds the password file in the container is the one tested, then checks what each
account may publish and read.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from heatwatch.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {
    "MQTT_COLLECTOR_PASSWORD": "pw-collector",
    "MQTT_ALERTS_PASSWORD": "pw-alerts",
    "MQTT_API_PASSWORD": "pw-api",
    "MQTT_SIMULATOR_PASSWORD": "pw-simulator",
}

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd"),
]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "config").mkdir()
    stations = tmp_path / "stations"
    stations.mkdir()
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(stations / "city.passwd"), "st-1",
                    "pw-st-1"], check=True)
    port = free_port()
    conf = tmp_path / "test.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path}/config/passwd\nacl_file {ROOT}/deploy/mosquitto/acl\n"
        f"persistence false\nuser {getpass.getuser()}\nlog_dest stderr\nlog_type error\n"
    )
    env = {**os.environ, **PASSWORDS, "MOSQUITTO_DIR": str(tmp_path),
           "MOSQUITTO_CONF": str(conf), "MOSQUITTO_BIN": shutil.which("mosquitto") or ""}
    proc = subprocess.Popen(["sh", str(ROOT / "deploy/mosquitto/entrypoint.sh")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=10)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


class Client:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.got: list[str] = []
        self.refused: int | None = None
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=mqtt.MQTTv5)
        c.username_pw_set(user, password)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, msg: self.got.append(msg.topic)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.refused = None if not getattr(reason, "is_failure", False) else 1
        self.ready.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_accounts_and_acl(broker: int) -> None:
    collector = Client(broker, "collector", "pw-collector")
    assert collector.ready.wait(5) and collector.refused is None
    collector.client.subscribe("$share/collectors/heat/#", qos=1)
    time.sleep(0.3)
    station = Client(broker, "st-1", "pw-st-1")
    assert station.ready.wait(5) and station.refused is None
    for topic in ("heat/st-1/telemetry", "heat/st-1/meter/f1", "heat/st-1/status",
                  "heat/st-2/telemetry", "heat/_rejected"):
        station.client.publish(topic, b"{}", qos=1).wait_for_publish(5)
    collector.client.publish("heat/_rejected", b"{}", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(collector.got) < 4:
        time.sleep(0.05)
    time.sleep(0.3)
    # The station reaches only its own topics; the collector may publish dead letters.
    assert sorted(collector.got) == ["heat/_rejected", "heat/st-1/meter/f1", "heat/st-1/status",
                                     "heat/st-1/telemetry"]
    intruder = Client(broker, "collector", "wrong")
    assert intruder.ready.wait(5) and intruder.refused == 1
    for c in (collector, station, intruder):
        c.close()
