"""The broker refuses whoever it should: anonymous clients, wrong passwords, clients that do not
trust its certificate, and a station publishing under another station's topic.

A refused publish is proven twice: a subscriber with read access to everything (the collector
account) never receives it, and with MQTT 5 the publisher's PUBACK says "Not authorized"
(0x87). With MQTT 3.1.1 Mosquitto acknowledges and drops it silently, which is exactly why the
subscriber check is the one that matters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from mqtt_clients import Probe
from security_helpers import ACCOUNTS, SecureBroker

pytestmark = pytest.mark.servers

NOT_AUTHORIZED = 0x87


@pytest.fixture
def watcher(secure_broker: SecureBroker) -> Iterator[Probe]:
    """The collector account subscribed to heat/#: sees every publish the ACL lets through."""
    probe = Probe(username="collector", password=ACCOUNTS["collector"], ca=secure_broker.pki.ca)
    assert probe.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    probe.subscribe("heat/#")
    yield probe
    probe.close()


def _settle(watcher: Probe, expect: int, timeout: float = 3.0) -> None:
    """Wait for ``expect`` messages, then a little longer so a late stray one would show."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(watcher.received) < expect:
        time.sleep(0.02)
    time.sleep(0.5)


def test_anonymous_client_is_refused(secure_broker: SecureBroker, watcher: Probe) -> None:
    probe = Probe(ca=secure_broker.pki.ca)
    result = probe.connect(secure_broker.host, secure_broker.tls_port)
    probe.client.publish("heat/st-00001/telemetry", b'{"anon": 1}', qos=1)
    _settle(watcher, 0)
    probe.close()
    assert result != "ok" and probe.connack is not None and probe.connack.is_failure
    assert watcher.received == []


@pytest.mark.parametrize("user", ["collector", "st-00001", "nobody"])
def test_wrong_password_is_refused(secure_broker: SecureBroker, watcher: Probe, user: str) -> None:
    probe = Probe(username=user, password="not-the-password", ca=secure_broker.pki.ca)
    result = probe.connect(secure_broker.host, secure_broker.tls_port)
    probe.client.publish(f"heat/{user}/telemetry", b'{"wrong": 1}', qos=1)
    _settle(watcher, 0)
    probe.close()
    assert result != "ok", f"{user} connected with a wrong password"
    assert watcher.received == []


def test_plain_listener_needs_a_password_too(secure_broker: SecureBroker) -> None:
    """The loopback listener without TLS is governed by the same global auth settings."""
    probe = Probe(tls=False)
    assert probe.connect(secure_broker.host, secure_broker.server.port) != "ok"
    probe.close()


def test_client_that_does_not_trust_the_ca_cannot_connect(secure_broker: SecureBroker) -> None:
    """Certificate verification is on: a client with another CA fails the TLS handshake, so
    a man in the middle with his own certificate gets no password."""
    probe = Probe(username="st-00001", password=ACCOUNTS["st-00001"],
                  ca=secure_broker.pki.other_ca)
    result = probe.connect(secure_broker.host, secure_broker.tls_port)
    probe.close()
    assert result.startswith("transport error"), result
    assert "CERTIFICATE_VERIFY_FAILED" in result or "certificate verify failed" in result


def test_plaintext_client_on_the_tls_port_gets_nowhere(secure_broker: SecureBroker) -> None:
    probe = Probe(username="st-00001", password=ACCOUNTS["st-00001"], tls=False)
    result = probe.connect(secure_broker.host, secure_broker.tls_port, timeout=3.0)
    probe.close()
    assert result != "ok"


def test_station_can_publish_only_its_own_topics_mqtt5(
    secure_broker: SecureBroker, watcher: Probe
) -> None:
    station = Probe(username="st-00001", password=ACCOUNTS["st-00001"], ca=secure_broker.pki.ca)
    assert station.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    own = ["heat/st-00001/telemetry", "heat/st-00001/meter/f-1", "heat/st-00001/status"]
    foreign = [
        "heat/st-00002/telemetry",  # another station
        "heat/st-00002/meter/f-1",
        "heat/st-00002/status",  # forging another station's online/offline
        "heat/_rejected",  # only the collector writes dead letters
        "heat/st-00001/telemetry/extra",  # below its own topics, outside the pattern
        "heat/+/telemetry",  # wildcards are not valid topic names for PUBLISH
        "other/st-00001/telemetry",
    ]
    own_codes = [station.publish(t, b'{"mine": 1}') for t in own]
    foreign_codes = {t: station.publish(t, b'{"forged": 1}') for t in foreign if "+" not in t}
    _settle(watcher, len(own))
    station.close()
    assert all(c is not None and not c.is_failure for c in own_codes), own_codes
    assert sorted(t for t, _p in watcher.received) == sorted(own)
    assert all(p == b'{"mine": 1}' for _t, p in watcher.received)
    # Mosquitto 2.0 answers a denied MQTT 5 QoS 1 publish with PUBACK 0x87.
    for topic, code in foreign_codes.items():
        assert code is not None and code.value == NOT_AUTHORIZED, (topic, code)


def test_station_impersonation_is_dropped_mqtt311(
    secure_broker: SecureBroker, watcher: Probe
) -> None:
    """MQTT 3.1.1 has no PUBACK reason code: the refusal shows only in what nobody receives."""
    station = Probe(username="st-00002", password=ACCOUNTS["st-00002"], ca=secure_broker.pki.ca,
                    protocol=mqtt.MQTTv311)
    assert station.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    station.publish("heat/st-00001/telemetry", b'{"forged": 1}')
    station.publish("heat/st-00002/telemetry", b'{"mine": 1}')
    _settle(watcher, 1)
    station.close()
    assert watcher.received == [("heat/st-00002/telemetry", b'{"mine": 1}')]


def test_station_cannot_read_anything(secure_broker: SecureBroker) -> None:
    """Stations may not eavesdrop on the fleet: their subscription gets nothing delivered."""
    spy = Probe(username="st-00001", password=ACCOUNTS["st-00001"], ca=secure_broker.pki.ca)
    assert spy.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    spy.subscribe("heat/#")
    other = Probe(username="st-00002", password=ACCOUNTS["st-00002"], ca=secure_broker.pki.ca)
    assert other.connect(secure_broker.host, secure_broker.tls_port) == "ok"
    other.publish("heat/st-00002/telemetry", b'{"private": 1}')
    time.sleep(0.8)
    spy.close()
    other.close()
    assert spy.received == []
