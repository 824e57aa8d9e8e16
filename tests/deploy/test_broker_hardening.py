"""Attacks on the shipped broker (deploy/mosquitto/), each on the real Mosquitto.

* Session takeover (issue 13, item 16): a station account connects with the collector's client
  id and a clean session. Without a binding of client ids to accounts Mosquitto hands it the
  collector's session, discards it and the readings queued in it, and kicks the collector.
  Tried on every listener the shipped file defines.
* TLS (item 18): a station publishes over TLS with the private CA made by scripts/make-certs.sh
  and the collector, on the internal listener, gets it; plaintext on the TLS port, a client
  that does not trust the CA and a station account on the internal listener get nothing.
* The demo account (item 17): no ``simulator`` account unless the demo asks for one, and the
  entrypoint refuses ``change-me`` and empty passwords.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mqtt_probe import Mqtt
from shipped_broker import MOSQUITTO_DIR, SERVICE_PASSWORDS, STATIONS, ShippedBroker, shipped_broker

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd"),
]

SHIPPED_LISTENERS = [int(p) for p in re.findall(
    r"^listener\s+(\d+)", (MOSQUITTO_DIR / "mosquitto.conf").read_text(), re.M)]
COLLECTOR_ID = "heatwatch-collector"  # deploy/heatwatch/collector.yaml
COLLECTOR_PW = SERVICE_PASSWORDS["MQTT_COLLECTOR_PASSWORD"]
INTERNAL = 1883


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    b = shipped_broker(tmp_path)
    b.start()
    yield b
    b.stop()


def _station_port(b: ShippedBroker) -> tuple[int, ssl.SSLContext | None]:
    """Where stations connect: the TLS listener (today's file has only the plain one)."""
    for listener in b.listeners.values():
        if listener.tls:
            return listener.port, b.tls_context()
    return b.port_of(INTERNAL), None


def _collector(b: ShippedBroker) -> Mqtt:
    c = Mqtt("collector", COLLECTOR_PW, client_id=COLLECTOR_ID, clean=False)
    assert c.connect(b.port_of(INTERNAL)) == "ok"
    return c


@pytest.mark.parametrize("listener", SHIPPED_LISTENERS)
def test_station_cannot_take_over_the_collector_session(
    broker: ShippedBroker, listener: int
) -> None:
    collector = _collector(broker)
    collector.subscribe("heat/+/telemetry")
    collector.close()  # down for a moment: its session queues what stations send

    port, tls = _station_port(broker)
    station = Mqtt("st-1", STATIONS["st-1"], client_id="st-1", tls=tls)
    assert station.connect(port) == "ok"
    for seq in range(5):
        station.publish("heat/st-1/telemetry", b'{"seq": %d}' % seq)
    station.close()

    target = broker.listeners[listener]
    attacker = Mqtt("st-2", STATIONS["st-2"], client_id=COLLECTOR_ID, clean=True,
                    tls=broker.tls_context() if target.tls else None)
    outcome = attacker.connect(target.port)  # refused, or connected under its own id
    attacker.close()

    back = _collector(broker)
    got = back.wait_for(5, timeout=5)
    back.close()
    assert back.session_present, f"the collector's session is gone (attack: {outcome})"
    assert got == 5, f"{got} of 5 queued readings reached the collector (attack: {outcome})"


def test_tls_station_reaches_the_collector(broker: ShippedBroker) -> None:
    tls_ports = [li.port for li in broker.listeners.values() if li.tls]
    assert tls_ports, "the shipped mosquitto.conf has no TLS listener"
    collector = _collector(broker)
    collector.subscribe("heat/+/telemetry")
    station = Mqtt("st-1", STATIONS["st-1"], client_id="anything", tls=broker.tls_context())
    assert station.connect(tls_ports[0]) == "ok"
    station.publish("heat/st-1/telemetry", b'{"seq": 1}')
    assert collector.wait_for(1, timeout=5) == 1
    assert collector.received == [("heat/st-1/telemetry", b'{"seq": 1}')]
    station.close()

    # Plaintext MQTT on the TLS port, and TLS without the private CA: no connection.
    plain = Mqtt("st-1", STATIONS["st-1"], client_id="plain")
    assert plain.connect(tls_ports[0], timeout=3) != "ok"
    plain.close()
    stranger = Mqtt("st-1", STATIONS["st-1"], client_id="stranger",
                    tls=ssl.create_default_context())  # the system CAs, not ours
    assert stranger.connect(tls_ports[0], timeout=3).startswith("transport error")
    stranger.close()
    # Station accounts exist only on the TLS listener: the internal one refuses them.
    inside = Mqtt("st-1", STATIONS["st-1"], client_id="st-1")
    assert inside.connect(broker.port_of(INTERNAL)) == "Not authorized"
    inside.close()
    collector.close()


def test_no_simulator_account_outside_the_demo(tmp_path: Path) -> None:
    demo_pw = "pw-sim-3Xv"
    plain = shipped_broker(tmp_path / "plain")
    plain.start()
    try:
        sim = Mqtt("simulator", demo_pw, client_id="sim")
        assert sim.connect(plain.port_of(INTERNAL)) == "Not authorized"
        sim.close()
        acl = (plain.dir / "config" / "acl").read_text()
        assert "user simulator" not in acl
    finally:
        plain.stop()

    demo = shipped_broker(tmp_path / "demo", extra_env={"MQTT_SIMULATOR_PASSWORD": demo_pw})
    demo.start()
    try:
        collector = _collector(demo)
        collector.subscribe("heat/+/telemetry")
        sim = Mqtt("simulator", demo_pw, client_id="sim")
        assert sim.connect(demo.port_of(INTERNAL)) == "ok"
        sim.publish("heat/st-9/telemetry", b"{}")  # it speaks for the simulated fleet
        assert collector.wait_for(1, timeout=5) == 1
        sim.close()
        collector.close()
    finally:
        demo.stop()


@pytest.mark.parametrize("env", [
    {"MQTT_COLLECTOR_PASSWORD": "change-me-collector"},
    {"MQTT_API_PASSWORD": "CHANGE-ME"},
    {"MQTT_ALERTS_PASSWORD": ""},
    {"MQTT_SIMULATOR_PASSWORD": "change-me-simulator"},
])
def test_entrypoint_refuses_placeholder_passwords(tmp_path: Path, env: dict[str, str]) -> None:
    b = shipped_broker(tmp_path, extra_env=env)
    result = subprocess.run(["sh", str(MOSQUITTO_DIR / "entrypoint.sh")], env=b.env,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    name = next(iter(env))
    assert name in result.stderr
    assert not (b.dir / "config" / "passwd.services").exists()
