"""A small paho client for the security tests that records what the broker answered.

The tests need more than "did it connect": the CONNACK reason code, the PUBACK reason code of
each publish (MQTT 5 tells a publisher "not authorized"; MQTT 3.1.1 cannot, Mosquitto then
drops the message silently) and every message a subscriber received, to prove a refused
publish never reached anyone.
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

_counter = iter(range(1_000_000))


class Probe:
    """One client connection; ``connect`` returns the CONNACK reason (or an error text)."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        ca: Path | None = None,
        tls: bool = True,
        protocol: int = mqtt.MQTTv5,
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sec-probe-{next(_counter)}",
            protocol=protocol,  # type: ignore[arg-type]
        )
        if username is not None:
            client.username_pw_set(username, password)
        if tls:
            client.tls_set(ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client = client

    def connect(self, host: str, port: int, timeout: float = 10.0) -> str:
        """"ok", the broker's refusal reason, or the transport error (TLS handshake...)."""
        try:
            self.client.connect(host, port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            return f"transport error: {exc.__class__.__name__}: {exc}"
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected.is_set():
                assert self.connack is not None
                return "ok" if not self.connack.is_failure else str(self.connack)
            if self.disconnected.is_set() and self.connack is None:
                return "disconnected before CONNACK"
            time.sleep(0.02)
        return "timeout"

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes, timeout: float = 5.0) -> ReasonCode | None:
        """QoS 1 publish; the PUBACK's reason code (None if no PUBACK came)."""
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if info.mid in self.pubacks:
                    return self.pubacks[info.mid]
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- callbacks --------------------------------------------------------------------------
    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._lock:
            self.pubacks[mid] = reason
