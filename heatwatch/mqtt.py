"""The one place that builds heatwatch's paho clients.

The collector, the alert engine, the alert channel that publishes retained state and the
simulator's gateways each need a client with different sessions and callbacks, but how they
authenticate, verify TLS, keep a session, reconnect and leave a last will must not drift apart:
a TLS option honoured by one service and forgotten by another is a silent security hole. So:

* :func:`make_client` builds every client from :class:`~heatwatch.settings.MqttSettings` plus
  the few choices that really differ per use (protocol, session, will, manual acks, windows).
* paho's callbacks are set here only, with the ``CallbackAPIVersion.VERSION2`` signatures.
  paho's setters accept either callback version, so a handler of the wrong shape would pass
  the type checker and fail at run time in the network thread; instead they convert paho's
  arguments to plain values and call the typed :class:`Handlers`. Handlers run on paho's
  network thread and should only convert and enqueue (or set an event): anything slow there
  stops PINGs and acks for the whole connection.
* paho's failures (refused CONNACKs, ``ValueError``/``OSError`` from connecting, reason codes)
  are turned into log lines, strings or :class:`MqttError` here, at the boundary.
* ``suppress_exceptions``: a bug in a handler is logged by paho and never kills the network
  thread (which would end all reconnects silently).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from heatwatch.settings import MqttProtocol, MqttSettings, check_client_id

__all__ = [
    "Handlers",
    "MqttClient",
    "MqttError",
    "MqttProtocol",
    "Session",
    "Will",
    "make_client",
    "tls_context",
]

log = logging.getLogger(__name__)

class MqttError(RuntimeError):
    """The client could not be set up or started; the message says which broker and why."""


@dataclass(frozen=True, slots=True)
class Will:
    """What the broker publishes for us when the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Session:
    """Clean (the default: nothing left behind) or persistent under a fixed client id.

    Persistent: MQTT 3.1.1 with clean session off (the broker's own expiry applies), or MQTT 5
    with ``clean_start=False`` on *every* connect (paho's default cleans the first one, which
    would throw away what the broker queued while we were down) and ``expiry`` seconds.
    ``receive_maximum`` (MQTT 5 only) asks the broker for at most that many unacked messages.
    """

    persistent: bool = False
    expiry: int = 0
    receive_maximum: int | None = None


@dataclass(frozen=True, slots=True)
class Handlers:
    """What the owner of a client hears, as plain values, on paho's network thread.

    * ``connected(session_present)``: the broker accepted the connection (refusals are logged
      here and the client keeps retrying);
    * ``disconnected(reason)``: the connection ended, on purpose or not;
    * ``message(msg)``: a message arrived (with manual acks, not acked yet);
    * ``published(mid)``: the broker acknowledged our publish ``mid`` (PUBACK for QoS 1);
    * ``subscribed(refusals)``: a SUBACK, one entry per filter of the request: ``None`` when
      granted, else the broker's reason.
    """

    connected: Callable[[bool], None] | None = None
    disconnected: Callable[[str], None] | None = None
    message: Callable[[mqtt.MQTTMessage], None] | None = None
    published: Callable[[int], None] | None = None
    subscribed: Callable[[list[str | None]], None] | None = None


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Server-verified TLS (CA file or the system's CAs, host name checked), with a client
    certificate if configured. Shared with the API's readiness probe, so "ready" means the
    services' own clients would get through the same handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    if settings.ca_file is not None:
        context.load_verify_locations(str(settings.ca_file))
    else:
        context.load_default_certs()
    if settings.cert_file is not None:
        key = str(settings.key_file) if settings.key_file is not None else None
        context.load_cert_chain(str(settings.cert_file), key)
    return context


class MqttClient:
    """A paho client built by :func:`make_client`, with its connection parameters.

    ``paho`` is the client itself for publishing, subscribing and acking; connecting and
    stopping go through :meth:`start` and :meth:`stop`, so every client connects alike.
    """

    def __init__(self, paho: mqtt.Client, settings: MqttSettings, client_id: str,
                 protocol: MqttProtocol, session: Session, handlers: Handlers) -> None:
        self.paho = paho
        self.settings = settings
        self.client_id = client_id
        self.protocol = protocol
        self.session = session
        self.handlers = handlers
        paho.on_connect = self._on_connect
        paho.on_disconnect = self._on_disconnect
        if handlers.message is not None:
            paho.on_message = self._on_message
        if handlers.published is not None:
            paho.on_publish = self._on_publish
        if handlers.subscribed is not None:
            paho.on_subscribe = self._on_subscribe

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def start(self) -> None:
        """Connect in the background; paho's loop thread retries until the broker answers."""
        s = self.settings
        try:
            if self.protocol == "5":
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                if self.session.persistent:
                    props.SessionExpiryInterval = self.session.expiry
                if self.session.receive_maximum is not None:
                    props.ReceiveMaximum = self.session.receive_maximum
                self.paho.connect_async(s.host, s.port, keepalive=s.keepalive,
                                        clean_start=not self.session.persistent,
                                        properties=props)
            else:  # clean session was chosen when the paho client was made
                self.paho.connect_async(s.host, s.port, keepalive=s.keepalive)
        except (OSError, ValueError) as exc:
            raise MqttError(f"MQTT client {self.client_id}: cannot connect to {self.where}: "
                            f"{exc}") from exc
        self.paho.loop_start()

    def stop(self) -> None:
        """DISCONNECT after what is queued (a persistent session stays at the broker)."""
        self.paho.disconnect()
        self.paho.loop_stop()

    # -- paho callbacks (network thread): convert, then hand over --------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker %s refused the connection of %s: %s", self.where,
                        self.client_id, reason_code)
            return
        if self.handlers.connected is not None:
            self.handlers.connected(bool(flags.session_present))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                       reason_code: ReasonCode, properties: Properties | None) -> None:
        if self.handlers.disconnected is not None:
            self.handlers.disconnected(str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.handlers.message is not None:
            self.handlers.message(msg)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: ReasonCode, properties: Properties) -> None:
        if self.handlers.published is not None:
            self.handlers.published(mid)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Properties | None) -> None:
        if self.handlers.subscribed is not None:
            self.handlers.subscribed(
                [str(code) if code.is_failure else None for code in reason_codes]
            )


def make_client(
    settings: MqttSettings,
    handlers: Handlers,
    *,
    client_id: str | None = None,
    protocol: MqttProtocol = "3.1.1",
    session: Session | None = None,
    will: Will | None = None,
    manual_ack: bool = False,
    max_inflight: int | None = None,
    max_queued: int | None = None,
) -> MqttClient:
    """A paho client with the credentials, TLS, reconnect delays and keepalive of
    ``settings``; not connected yet (:meth:`MqttClient.start`).

    ``client_id`` defaults to the settings' one (a derived id, e.g. per simulator gateway, is
    passed here). ``max_inflight``/``max_queued`` set paho's windows for our own publishes
    (paho's defaults otherwise).
    """
    session = session if session is not None else Session()
    cid = check_client_id(client_id) if client_id is not None else settings.client_id
    if protocol == "5":
        paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5,
                           manual_ack=manual_ack)
    else:
        paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid,
                           protocol=mqtt.MQTTv311, clean_session=not session.persistent,
                           manual_ack=manual_ack)
    paho.suppress_exceptions = True
    # paho does float arithmetic on these; its annotation says int.
    paho.reconnect_delay_set(
        settings.reconnect_min_delay,  # type: ignore[arg-type]
        settings.reconnect_max_delay,  # type: ignore[arg-type]
    )
    if max_inflight is not None:
        paho.max_inflight_messages_set(max_inflight)
    if max_queued is not None:
        paho.max_queued_messages_set(max_queued)
    if will is not None:
        paho.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        paho.username_pw_set(settings.username, password)
    if settings.tls:
        try:
            paho.tls_set_context(tls_context(settings))
        except (OSError, ssl.SSLError) as exc:
            raise MqttError(f"MQTT client {cid}: TLS files unusable: {exc}") from exc
    return MqttClient(paho, settings, cid, protocol, session, handlers)
