"""Where messages go: MQTT gateways (bounded in-flight QoS 1), a JSONL file, or memory.

Gateways: thousands of stations cannot each hold a TCP connection from one process, so one
MQTT connection ("gateway") serves a group of consecutive stations, as a telemetry
concentrator does. A connection has exactly one last will, so:

* a gateway's will is ``offline`` (retained) on the status topic of its *first* station; it
  fires for real when a gateway-level power loss kills the socket without DISCONNECT; the
  other stations of that gateway simply go silent (staleness detection must catch them);
* a single station's power loss is announced by its (still powered) gateway publishing
  ``offline`` retained on that station's status topic, and ``online`` when power returns.

With ``stations_per_gateway: 1`` (the default) the will covers each station exactly.

Bounded in-flight: paho keeps QoS 1 messages in a dict keyed by message id and silently
overwrites entries once ids wrap past 65,535 (eclipse-paho/paho.mqtt.python#377). Each gateway
therefore holds a semaphore of ``max_inflight`` permits, taken before ``publish`` and given back
in ``on_publish`` (PUBACK), so never more than that many messages are unacknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

import orjson
import paho.mqtt.client as mqtt

from heatwatch.mqtt import Handlers, MqttClient, MqttError, Will, make_client
from heatwatch.settings import MqttSettings, derived_client_id
from simulators.layout import Layout
from simulators.payloads import Message

__all__ = ["FileSink", "MemorySink", "MqttSink", "PublishError", "Sink"]

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker cannot be reached or refused a message."""


class Sink(Protocol):
    def send(self, msgs: Sequence[Message]) -> None: ...
    def gateway_down(self, gateway: int) -> None: ...
    def gateway_up(self, gateway: int, online: Sequence[int]) -> None: ...
    def close(self) -> None: ...


class MemorySink:
    """Keeps every message (tests, the alert benchmark); gateway kills are recorded as the
    broker would publish the will."""

    def __init__(self, layout: Layout, prefix: str = "heat") -> None:
        self.layout = layout
        self.prefix = prefix
        self.messages: list[Message] = []

    def send(self, msgs: Sequence[Message]) -> None:
        self.messages.extend(msgs)

    def gateway_down(self, gateway: int) -> None:
        lead = int(self.layout.gateway_stations(gateway)[0])
        topic = f"{self.prefix}/{self.layout.station_ids[lead]}/status"
        self.messages.append(Message(gateway, lead, 0.0, topic, b"offline", True))

    def gateway_up(self, gateway: int, online: Sequence[int]) -> None:
        for s in online:
            topic = f"{self.prefix}/{self.layout.station_ids[s]}/status"
            self.messages.append(Message(gateway, s, 0.0, topic, b"online", True))

    def close(self) -> None:
        return None


class FileSink(MemorySink):
    """JSON lines ``{"topic", "retain", "payload"}``: a run without a broker."""

    def __init__(self, layout: Layout, path: Path, prefix: str = "heat") -> None:
        super().__init__(layout, prefix)
        self._fh: IO[bytes] = path.open("wb")

    def send(self, msgs: Sequence[Message]) -> None:
        self._fh.write(
            b"".join(
                orjson.dumps({"topic": m.topic, "retain": m.retain, "payload": m.payload.decode()})
                + b"\n"
                for m in msgs
            )
        )

    def gateway_down(self, gateway: int) -> None:
        self.messages.clear()
        super().gateway_down(gateway)
        self.send(self.messages)
        self.messages.clear()

    def gateway_up(self, gateway: int, online: Sequence[int]) -> None:
        self.messages.clear()
        super().gateway_up(gateway, online)
        self.send(self.messages)
        self.messages.clear()

    def close(self) -> None:
        self._fh.close()


class _Gateway:
    """One MQTT connection serving ``stations``."""

    def __init__(
        self, name: str, status_topics: list[str], cfg: MqttSettings, qos: int, max_inflight: int
    ) -> None:
        self.name = name
        self.status_topics = status_topics
        self.cfg = cfg
        self.qos = qos
        self.max_inflight = max_inflight
        self.permits = threading.BoundedSemaphore(max_inflight)
        self.connected = threading.Event()
        self.mqtt: MqttClient | None = None
        self.closing = False
        self.lead_online = True  # what the retained status of the will's topic should say
        self._ever_connected = False
        self._reannounce = False
        self.connects = 0  # successful connections, reconnects included
        self.dropped = 0  # messages addressed to it while it was powered off

    @property
    def client(self) -> mqtt.Client | None:
        """The paho client while powered (None after a power cut)."""
        return self.mqtt.paho if self.mqtt is not None else None

    def connect(self) -> None:
        try:
            client = make_client(
                self.cfg,
                Handlers(connected=self._on_connect, disconnected=self._on_disconnect,
                         published=self._on_publish),
                client_id=derived_client_id(self.cfg.client_id, self.name),
                will=Will(self.status_topics[0], b"offline"),
                # paho's window only queues; the semaphore bounds unacknowledged messages.
                max_inflight=self.max_inflight,
            )
        except (MqttError, ValueError) as exc:
            raise PublishError(f"gateway {self.name}: {exc}") from exc
        self.permits = threading.BoundedSemaphore(self.max_inflight)
        self.connected.clear()
        self._reannounce = False
        self.mqtt = client
        try:
            client.start()
        except MqttError as exc:
            raise PublishError(f"gateway {self.name}: {exc}") from exc

    def _on_connect(self, session_present: bool) -> None:
        if self._ever_connected:
            # A dropped connection fired our will: the first station must be "online" again.
            self._reannounce = True
        self._ever_connected = True
        self.connects += 1
        self.connected.set()

    def _on_disconnect(self, reason: str) -> None:
        self.connected.clear()

    def _on_publish(self, mid: int) -> None:
        # A message re-sent after a reconnect can be acknowledged twice: ignore the extra.
        with contextlib.suppress(ValueError):
            self.permits.release()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        if self.client is None:  # powered off: whatever it would send is lost
            self.dropped += 1
            return
        if topic == self.status_topics[0]:
            self.lead_online = payload == b"online"
        if self._reannounce:
            self._reannounce = False
            if self.lead_online and topic != self.status_topics[0]:
                self.publish(self.status_topics[0], b"online", True)
        while not self.permits.acquire(timeout=5.0):
            if self.closing:
                return
            if self.client is None:
                self.dropped += 1
                return
            log.warning(
                "gateway %s: %d messages unacknowledged, waiting", self.name, self.max_inflight
            )
        assert self.client is not None
        info = self.client.publish(topic, payload, qos=self.qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_NO_CONN and self.qos > 0:
            return  # queued by paho and sent (then acknowledged) after reconnecting
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.permits.release()
            if info.rc != mqtt.MQTT_ERR_NO_CONN:
                raise PublishError(f"gateway {self.name}: {mqtt.error_string(info.rc)}")

    def kill(self) -> None:
        """Power cut: drop the TCP connection without DISCONNECT so the broker fires the will."""
        client = self.client
        if client is None:
            return
        client.loop_stop()
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.mqtt = None
        self.connected.clear()
        self._ever_connected = False  # the next connection is a new one, announced explicitly

    def drain(self, deadline: float) -> bool:
        """Wait until every message has been acknowledged or ``deadline`` (monotonic) passes."""
        taken = 0
        ok = True
        for _ in range(self.max_inflight):
            if not self.permits.acquire(timeout=max(0.0, deadline - time.monotonic())):
                ok = False
                break
            taken += 1
        for _ in range(taken):
            self.permits.release()
        return ok

    def close(self) -> None:
        self.closing = True
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None


class MqttSink:
    """One gateway connection per group of stations (``fleet.stations_per_gateway``)."""

    def __init__(
        self,
        layout: Layout,
        cfg: MqttSettings,
        *,
        qos: int = 1,
        max_inflight: int = 1000,
        connect_timeout: float = 30.0,
    ) -> None:
        self.layout = layout
        self.prefix = cfg.prefix
        self.gateways: list[_Gateway] = []
        for g, name in enumerate(layout.gateway_ids):
            topics = [
                f"{cfg.prefix}/{layout.station_ids[s]}/status"
                for s in layout.gateway_stations(g).tolist()
            ]
            self.gateways.append(_Gateway(name, topics, cfg, qos, max_inflight))
        for gw in self.gateways:
            gw.connect()
        for gw in self.gateways:
            if not gw.connected.wait(connect_timeout):
                self.close()
                raise PublishError(
                    f"gateway {gw.name}: no connection to {cfg.host}:{cfg.port} "
                    f"after {connect_timeout:.0f} s"
                )

    def send(self, msgs: Sequence[Message]) -> None:
        gws = self.gateways
        for m in msgs:
            gws[m.gateway].publish(m.topic, m.payload, m.retain)

    def gateway_down(self, gateway: int) -> None:
        self.gateways[gateway].kill()

    def gateway_up(self, gateway: int, online: Sequence[int]) -> None:
        gw = self.gateways[gateway]
        gw.connect()
        gw.connected.wait(30.0)
        for s in online:
            gw.publish(f"{self.prefix}/{self.layout.station_ids[s]}/status", b"online", True)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait (at most ``timeout`` in all) for every gateway's PUBACKs."""
        deadline = time.monotonic() + timeout
        return all([gw.drain(deadline) for gw in self.gateways if gw.client is not None])

    def close(self) -> None:
        self.drain()
        for gw in self.gateways:
            gw.close()
