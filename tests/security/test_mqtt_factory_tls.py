"""The client factory and the API's readiness probe against the TLS + password broker.

Both take their TLS context from ``heatwatch.mqtt.tls_context``: the probe must call the broker
ready exactly when a service's own client would get through the handshake and the login.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from security_helpers import ACCOUNTS, SecureBroker

from api.probes import ProbeFailed, mqtt_probe
from heatwatch.mqtt import Handlers, make_client
from heatwatch.settings import MqttSettings

pytestmark = pytest.mark.servers


def _settings(broker: SecureBroker, **changes: object) -> MqttSettings:
    base = {"host": "127.0.0.1", "port": broker.tls_port, "tls": True,
            "ca_file": str(broker.pki.ca), "username": "alerts", "password": ACCOUNTS["alerts"],
            "client_id": "factory-tls", "reconnect_min_delay": 0.2, "reconnect_max_delay": 1.0}
    return MqttSettings.model_validate({**base, **changes})


def _connects(settings: MqttSettings, timeout: float) -> bool:
    up = threading.Event()
    made = make_client(settings, Handlers(connected=lambda _present: up.set()))
    made.start()
    try:
        return up.wait(timeout)
    finally:
        made.stop()


def test_tls_and_password_reach_the_broker(secure_broker: SecureBroker) -> None:
    settings = _settings(secure_broker)
    assert _connects(settings, 15)
    asyncio.run(mqtt_probe(settings, timeout=5))


def test_a_stranger_ca_fails_the_handshake_for_client_and_probe(
    secure_broker: SecureBroker,
) -> None:
    settings = _settings(secure_broker, ca_file=str(secure_broker.pki.other_ca),
                         client_id="factory-stranger")
    assert not _connects(settings, 2)
    with pytest.raises(ProbeFailed, match="unreachable"):
        asyncio.run(mqtt_probe(settings, timeout=5))


def test_a_wrong_password_is_refused_and_not_logged(
    secure_broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-5Kq8-secret-pw"
    settings = _settings(secure_broker, password=wrong, client_id="factory-wrong")
    assert not _connects(settings, 2)
    assert "refused the connection of factory-wrong" in caplog.text
    with pytest.raises(ProbeFailed, match="refused the connection"):
        asyncio.run(mqtt_probe(settings, timeout=5))
    assert wrong not in caplog.text
