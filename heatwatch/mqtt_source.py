"""Receiving readings: a persistent QoS 1 session, thin callbacks, acks only when told.

The collector and the alert engine both take their input through :class:`MqttSource` (the
client itself comes from :func:`heatwatch.mqtt.make_client`). Why it looks like this:

* Fixed client id and a persistent session (:class:`heatwatch.mqtt.Session`), so the broker
  keeps our subscriptions and queues messages across restarts: MQTT 3.1.1 with clean session
  off (the default: paho decodes MQTT 5 properties on every message, a third more CPU per
  message here), or MQTT 5 with ``clean_start=False`` on every connect and a session expiry.
* ``manual_ack=True``: paho acks a QoS 1 message only when :meth:`MqttSource.ack` is called,
  which the service does after the readings are in InfluxDB or in the spool.
* Back-pressure: when the spool is full we stop acking and stop taking messages; the broker
  keeps the rest queued on its side. With MQTT 5 the collector announces Receive Maximum (a
  CONNECT property) so the broker should stop sending after that many unacked messages; with
  3.1.1 the broker's own in-flight limit applies. Either way the inbound queue is bounded by
  ``receive_maximum`` too, because brokers do not all keep that promise: Mosquitto 2.0.11
  (Debian's) refills its in-flight list past Receive Maximum when acks arrive in order
  (measured: 100 announced, 135,000 delivered and unacked; compare
  eclipse-mosquitto/mosquitto#2301). When the queue is full ``on_message`` waits, paho stops
  reading the socket and TCP pushes back on the broker, so memory stays bounded whatever the
  broker does. Each such wait is counted (:attr:`MqttSource.overruns`). The queue's payload
  bytes are bounded the same way (``max_queued_bytes``): with arrays of 100 readings, 4,000
  messages would be 130 MB.
* ``on_message`` only enqueues; decoding and writing happen on the service's worker thread, so
  the network loop keeps answering PINGs whatever InfluxDB does.
* ``on_connect`` subscribes every time, even when the broker says the session is present (the
  Telegraf failure modes #16038/#16293/#6232 are collectors that silently stop receiving after
  a broker restart). paho's loop thread reconnects forever with capped exponential backoff.
* Filters of the other subscription form (plain vs ``$share/...``) are unsubscribed when the
  session is resumed: the broker keeps a session's subscriptions, so switching ``shared_group``
  on would otherwise leave the old plain subscription delivering every message again.
* A batch's PUBACKs go out as one write. paho's ``ack()`` queues one packet per message and wakes
  its network thread through a socketpair for each, and that thread sends each packet with its
  own ``send()``: several syscalls per message, each a GIL hand-off between the collector's three
  threads (measured: a quarter of the flusher thread's time with single-reading messages).
  :meth:`MqttSource.ack` appends the batch's PUBACKs as one entry to paho's output queue and
  wakes the loop once. That uses two paho 2.x internals (``_out_packet``, ``_sockpairW``),
  checked when the source is built; without them it falls back to ``ack()`` per message.
* Every connection gets a generation number. A message is acked only on the connection that
  delivered it: packet ids restart per connection, so acking an old id on a new connection could
  acknowledge a different, not yet stored message. Unacked old messages are redelivered by the
  broker (harmless duplicates).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from heatwatch.mqtt import Handlers, MqttProtocol, Session, make_client
from heatwatch.settings import MqttSettings

__all__ = ["Inbound", "MqttSource", "topic_filters"]

log = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")  # fixed header 0x40, remaining length 2, packet id
_PUBACK_TYPE = 0x40


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


def topic_filters(prefix: str, shared_group: str | None) -> list[str]:
    """Telemetry, meters and status of every station (``{prefix}/_rejected`` is not matched)."""
    filters = [f"{prefix}/+/telemetry", f"{prefix}/+/meter/+", f"{prefix}/+/status"]
    if shared_group:
        filters = [f"$share/{shared_group}/{f}" for f in filters]
    return filters


class MqttSource:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        filters: list[str],
        stale_filters: list[str] | None = None,
        receive_maximum: int,
        max_queued_bytes: int = 16 * 1024 * 1024,
        protocol: MqttProtocol = "3.1.1",
        session_expiry: int,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.filters = filters
        self.stale_filters = stale_filters or []
        self.queue: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.window = receive_maximum
        self.max_queued_bytes = max_queued_bytes
        self.overruns = 0
        # Each written by one thread only (network / worker), so no lock: queued = in - out.
        self._bytes_in = 0
        self._bytes_out = 0
        self._paused = False  # the network thread waits in _wait_for_room
        self._room = threading.Event()
        self._on_connection = on_connection
        self._generation = 0
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.session_present: bool | None = None
        self._stopping = False

        self.v5 = protocol == "5"
        self.mqtt = make_client(
            settings,
            Handlers(connected=self._handle_connect, disconnected=self._handle_disconnect,
                     message=self._handle_message, subscribed=self._handle_subscribe),
            protocol=protocol,
            session=Session(persistent=True, expiry=session_expiry,
                            receive_maximum=receive_maximum),
            manual_ack=True,
            max_inflight=100,  # our own publishes (dead letters)
            max_queued=100_000,
        )
        client = self.client = self.mqtt.paho
        # See the module docstring: one write per batch of PUBACKs, if paho's internals are the
        # ones this was written against.
        self._batched_acks = isinstance(
            getattr(client, "_out_packet", None), collections.deque
        ) and hasattr(client, "_sockpairW")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; the loop thread retries until the broker answers."""
        self.mqtt.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stop(self) -> None:
        """Send what is queued (acks), DISCONNECT (the session stays: expiry is on CONNECT)."""
        with self._lock:
            self._generation += 1  # nothing acks after this
            self._stopping = True
        self.mqtt.stop()

    # -- callbacks (network thread) -------------------------------------------------------
    def _handle_connect(self, session_present: bool) -> None:
        with self._lock:
            self._generation += 1
        self.session_present = session_present
        if self.v5:
            # Retained statuses only on a new subscription, not again on every reconnect.
            options = SubscribeOptions(
                qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            )
            result, _mid = self.client.subscribe([(f, options) for f in self.filters])
        else:
            result, _mid = self.client.subscribe([(f, 1) for f in self.filters])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.warning("MQTT subscribe not sent (%s); will retry on reconnect", result)
        if session_present and self.stale_filters:
            # A persistent session keeps subscriptions from an older configuration (e.g. before
            # shared_group was set); left in place they would deliver every message twice.
            self.client.unsubscribe(self.stale_filters)
        log.info(
            "connected to MQTT %s:%d as %s (session present: %s), subscribed to %s",
            self.settings.host, self.settings.port, self.settings.client_id,
            session_present, ", ".join(self.filters),
        )
        self._connected.set()
        if self._on_connection is not None:
            self._on_connection(True)

    def _handle_disconnect(self, reason: str) -> None:
        with self._lock:
            self._generation += 1
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stopping:
            log.info("disconnected from MQTT (%s)", reason)
        elif was_connected:
            log.warning("MQTT connection lost (%s); reconnecting", reason)
            if self._on_connection is not None:
                self._on_connection(False)

    def _handle_subscribe(self, refusals: list[str | None]) -> None:
        """A refused filter (ACL, bad shared group) would otherwise look like a quiet fleet."""
        for topic, refusal in zip(self.filters, refusals, strict=False):
            if refusal is not None:
                log.error("broker refused subscription %s: %s", topic, refusal)

    def _handle_message(self, msg: mqtt.MQTTMessage) -> None:
        if self.queue.qsize() >= self.window:
            self.overruns += 1
            if self.overruns == 1 and self.v5:
                log.warning(
                    "broker sent more than Receive Maximum (%d) unacked messages; pausing reads "
                    "whenever the collector falls behind (counted in receive_window_overruns)",
                    self.window,
                )
            self._wait_for_room()
        elif self._bytes_in - self._bytes_out >= self.max_queued_bytes:
            self._wait_for_room()
        payload = bytes(msg.payload)
        self._bytes_in += len(payload)
        self.queue.put(Inbound(msg.topic, payload, msg.mid, msg.qos, self._generation))

    def _wait_for_room(self) -> None:
        """Hold the network thread (so paho stops reading and TCP back-pressure reaches the
        broker) until the worker has taken some of the queue."""
        self._paused = True
        try:
            while not self._stopping and self._full():
                self._room.clear()
                if not self._full():
                    break
                self._room.wait(0.05)  # set by get(); the timeout only guards stop()
        finally:
            self._paused = False

    def _full(self) -> bool:
        return (
            self.queue.qsize() >= self.window
            or self._bytes_in - self._bytes_out >= self.max_queued_bytes
        )

    # -- worker-thread API ----------------------------------------------------------------
    def get(self, timeout: float) -> Inbound:
        """The next received message (raises ``queue.Empty`` after ``timeout``)."""
        item = self.queue.get(timeout=timeout)
        self._bytes_out += len(item.payload)
        if self._paused:
            self._room.set()
        return item

    def ack(self, messages: Iterable[Inbound]) -> int:
        """Ack messages delivered on the current connection; returns how many were acked."""
        with self._lock:
            generation = self._generation
            mids = [m.mid for m in messages if m.qos == 1 and m.generation == generation]
            if mids:
                if self._batched_acks:
                    self._send_pubacks(mids)
                else:
                    for mid in mids:
                        self.client.ack(mid, 1)
            acked = len(mids)
            for m in messages:  # QoS 2 (not subscribed with today; kept correct all the same)
                if m.qos == 2 and m.generation == generation:
                    self.client.ack(m.mid, 2)
                    acked += 1
        return acked

    def _send_pubacks(self, mids: list[int]) -> None:
        """Queue the PUBACKs as one entry of paho's output queue and wake its loop once."""
        packet = b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, mid) for mid in mids])
        client: Any = self.client
        client._out_packet.append(
            {"command": _PUBACK_TYPE, "mid": mids[-1], "qos": 1, "pos": 0,
             "to_process": len(packet), "packet": packet, "info": None}
        )
        wake = client._sockpairW
        if wake is not None:  # None until loop_start(); the loop then finds the queue anyway
            with contextlib.suppress(BlockingIOError):  # full of wake-ups already
                wake.send(b"0")

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1 publish; paho queues it while disconnected."""
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.debug("publish to %s not queued: %s", topic, info.rc)
