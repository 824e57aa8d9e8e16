"""A blocking paho client for the broker deployment tests: connect, publish, collect, report."""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Mqtt:
    """One connection; ``connect`` returns "ok", the refusal, or the transport error."""

    def __init__(
        self, user: str | None, password: str | None, *, client_id: str,
        clean: bool = True, tls: ssl.SSLContext | None = None,
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.session_present: bool | None = None
        self._result: str | None = None
        self._done = threading.Event()
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                        protocol=mqtt.MQTTv311)
        if user is not None:
            c.username_pw_set(user, password)
        if tls is not None:
            c.tls_set_context(tls)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        self._result = "ok" if not reason.is_failure else str(reason)
        self._done.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected.set()
        self._done.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def connect(self, port: int, timeout: float = 10.0) -> str:
        try:
            self.client.connect("127.0.0.1", port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            return f"transport error: {exc.__class__.__name__}"
        self.client.loop_start()
        if not self._done.wait(timeout):
            return "timeout"
        return self._result or "disconnected before CONNACK"

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def wait_for(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.05)
        return len(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
