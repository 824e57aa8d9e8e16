"""Readiness probes: is the broker really an MQTT broker that accepts us, is InfluxDB up.

The broker probe speaks just enough MQTT 3.1.1 (CONNECT, CONNACK, DISCONNECT) to prove that the
broker answers and accepts the configured credentials. A TCP connect alone would call a wedged
broker or a wrong password "ready". It uses a unique client id with a clean session, so probing
never kicks out a service's persistent session (MQTT drops the older of two equal client ids).
It is the one MQTT connection not made by paho (:func:`heatwatch.mqtt.make_client`): a probe
must not start a network thread per request. Its TLS context and client id come from the same
helpers as every service's client, so "ready" means the services' handshake would succeed.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Awaitable, Callable

from heatwatch.mqtt import tls_context
from heatwatch.settings import MqttSettings, derived_client_id

__all__ = ["ProbeFailed", "Readiness", "mqtt_probe"]

_CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class ProbeFailed(Exception):
    """A dependency is not ready; the message says which and why."""


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(settings: MqttSettings, client_id: str) -> bytes:
    flags = 0x02  # clean session: leave nothing behind on the broker
    payload = _string(client_id)
    if settings.username is not None:
        flags |= 0x80
        payload += _string(settings.username)
        if settings.password is not None:
            flags |= 0x40
            payload += _string(settings.password.get_secret_value())
    body = _string("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big") + payload
    return b"\x10" + _remaining_length(len(body)) + body


async def mqtt_probe(settings: MqttSettings, timeout: float = 3.0) -> None:
    """Raise :class:`ProbeFailed` unless the broker accepts an MQTT connection."""
    where = f"MQTT broker {settings.host}:{settings.port}"
    client_id = derived_client_id(settings.client_id, f"ready-{secrets.token_hex(4)}")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                settings.host, settings.port,
                ssl=tls_context(settings) if settings.tls else None,
            )
            try:
                writer.write(connect_packet(settings, client_id))
                await writer.drain()
                ack = await reader.readexactly(4)
                writer.write(b"\xe0\x00")  # DISCONNECT
                await writer.drain()
            finally:
                writer.close()
    except TimeoutError as exc:
        raise ProbeFailed(f"{where} did not answer within {timeout:g} s") from exc
    except asyncio.IncompleteReadError as exc:
        raise ProbeFailed(f"{where} closed the connection without a CONNACK") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailed(f"{where} is unreachable: {exc.strerror or exc}") from exc
    if ack[0] != 0x20:
        raise ProbeFailed(f"{where} answered something that is not an MQTT CONNACK")
    if ack[3] != 0:
        reason = _CONNACK_CODES.get(ack[3], f"code {ack[3]}")
        raise ProbeFailed(f"{where} refused the connection: {reason}")


class Readiness:
    """The last probe's answer (dependency -> ok), reused for ``ttl`` seconds.

    ``/readyz`` is public: without this, every call logged in to the broker and pinged
    InfluxDB, so anyone could make the API open connections as fast as they send requests.
    Concurrent calls wait for the one probe in flight instead of starting their own.
    """

    def __init__(
        self, probe: Callable[[], Awaitable[dict[str, bool]]], ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self._probe = probe
        self._ttl = ttl
        self._clock = clock
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._answer: dict[str, bool] = {}
        self._at: float | None = None

    async def checks(self) -> dict[str, bool]:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a lock belongs to one event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            now = self._clock()
            if self._at is None or not 0 <= now - self._at < self._ttl:
                self._answer = await self._probe()
                self._at = self._clock()
            return dict(self._answer)
