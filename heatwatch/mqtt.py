"""One place that applies broker credentials and TLS to a paho client.

The collector, the alert engine, its MQTT channel and the simulator each build their own client
(different sessions, callbacks and protocol versions), but how they authenticate must not drift
apart: a TLS option honoured by one service and forgotten by another is a silent security hole.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from pydantic import SecretStr

__all__ = ["BrokerAuth", "apply_auth"]


class BrokerAuth(Protocol):
    """What :func:`apply_auth` reads; ``heatwatch.settings.MqttSettings`` has it all."""

    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> SecretStr | None: ...
    @property
    def tls(self) -> bool: ...
    @property
    def ca_file(self) -> Path | None: ...


def apply_auth(client: mqtt.Client, settings: BrokerAuth) -> None:
    """Username/password and (server-verified) TLS, with a client certificate if configured."""
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        cert = getattr(settings, "cert_file", None)
        key = getattr(settings, "key_file", None)
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(cert) if cert else None,
            keyfile=str(key) if key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
