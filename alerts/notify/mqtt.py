"""MQTT channel: the current state of every alert, retained, for SCADA screens.

Why retained state rather than messages: a SCADA screen (or a panel that just restarted)
wants to know *what is wrong now*, so each alert has its own topic and the broker keeps its
last state for every new subscriber:

* station alerts: ``{prefix}/_alerts/{station}/{rule}``
* zone alerts: ``{prefix}/_alerts/_zone/{zone}/{rule}``
* global alerts (``pipeline_down``): ``{prefix}/_alerts/_global/{rule}``

A resolved alert publishes its resolved state, retained as well (not an empty payload that
clears the topic): the screen shows "resolved at 14:02" until the next incident of that rule
overwrites it. ``state``, ``active_at`` and ``updated_at`` let a consumer order the rare late
delivery. The topics sit under ``_alerts`` (a station id never starts with ``_``), one level
deeper than readings, so the services' ``{prefix}/+/telemetry`` subscriptions never see them.

QoS 1 and a persistent connection (paho's network thread reconnects); a message counts as
delivered once the broker acknowledged it (PUBACK) within ``timeout_s``. The connection
settings are the shared :class:`heatwatch.settings.MqttSettings` (credentials, TLS, client
certificate, keepalive, reconnect delays) and the client comes from
:func:`heatwatch.mqtt.make_client`, like every other service's.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import Field

from alerts.model import Alert, EventKind, Scope
from alerts.notify.base import Notification, SendResult
from alerts.notify.render import Language, Renderer, alert_url
from alerts.notify.templates import TemplateSet
from alerts.notify.webhook import ZERO_TIME, rfc3339
from alerts.rows import OutboxItem
from heatwatch.mqtt import Handlers, MqttClient, MqttError, make_client
from heatwatch.settings import ClientId, MqttSettings, ReconnectDelay

__all__ = ["MqttChannelConfig", "MqttNotifier", "alert_topic", "state_payload"]


class MqttChannelConfig(MqttSettings):
    """The shared broker settings plus what a publishing channel adds.

    The channel keeps its own client id (a second connection beside the engine's inbox) and
    paho's reconnect delays, which it has always used."""

    client_id: ClientId = "heatwatch-alerts-notify"
    reconnect_min_delay: ReconnectDelay = 1.0
    reconnect_max_delay: ReconnectDelay = 120.0
    qos: int = Field(default=1, ge=0, le=2)
    timeout_s: float = Field(default=10.0, gt=0)
    language: Language | None = None


def alert_topic(prefix: str, alert: Alert) -> str:
    if alert.scope is Scope.FLAT and alert.station:
        return f"{prefix}/_alerts/{alert.station}/{alert.rule}/{alert.subject}"
    if alert.scope is Scope.STATION and alert.station:
        return f"{prefix}/_alerts/{alert.station}/{alert.rule}"
    if alert.scope is Scope.ZONE and alert.zone:
        return f"{prefix}/_alerts/_zone/{alert.zone}/{alert.rule}"
    return f"{prefix}/_alerts/_global/{alert.rule}"


def state_payload(item: OutboxItem, renderer: Renderer, updated_at: float) -> dict[str, Any]:
    alert = item.alert
    resolved = item.kind is EventKind.RESOLVED
    return {
        "alert_id": alert.id,
        "rule": alert.rule,
        "rule_name": renderer.rule_names.get(alert.rule, alert.rule),
        "station": alert.station,
        "zone": alert.zone,
        "severity": alert.severity.value,
        "state": "resolved" if resolved else "firing",
        "text": renderer.what(alert),
        "summary": alert.summary,
        "value": alert.value,
        "annotations": alert.annotations,
        "active_at": rfc3339(alert.active_at),
        "since": rfc3339(alert.fired_at or alert.active_at),
        "since_local": renderer.local(alert.fired_at or alert.active_at),
        "resolved_at": rfc3339(alert.resolved_at) if resolved else ZERO_TIME,
        "acked_by": alert.acked_by,
        "url": alert_url(renderer.external_url, alert.id),
        "updated_at": rfc3339(updated_at),
    }


class MqttNotifier:
    def __init__(self, name: str, config: MqttChannelConfig, *, language: Language = "en",
                 external_url: str = "", timezone: str = "UTC",
                 templates: TemplateSet | None = None) -> None:
        self.name = name
        self.config = config
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone, templates=templates)
        self._connected = threading.Event()
        self._client: MqttClient | None = None

    def _start(self) -> MqttClient:
        client = make_client(self.config, Handlers(connected=self._on_connect,
                                                   disconnected=self._on_disconnect))
        client.start()
        return client

    def _on_connect(self, session_present: bool) -> None:
        self._connected.set()

    def _on_disconnect(self, reason: str) -> None:
        self._connected.clear()

    def deliver(self, note: Notification) -> SendResult:
        if self._client is None:
            try:
                self._client = self._start()
            except MqttError as exc:  # e.g. unreadable TLS files: kept and retried, as before
                return SendResult(ok=False, retryable=True, detail=str(exc))
        if not self._connected.wait(self.config.timeout_s):
            return SendResult(ok=False, retryable=True,
                              detail=f"not connected to {self.config.host}:{self.config.port}")
        infos = []
        renderer = self.renderer.for_language(note.language)
        for item in note.items:
            body = state_payload(item, renderer, item.ts)
            info = self._client.paho.publish(alert_topic(self.config.prefix, item.alert),
                                             json.dumps(body, ensure_ascii=False).encode(),
                                             qos=self.config.qos, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return SendResult(ok=False, retryable=True,
                                  detail=f"publish failed: {mqtt.error_string(info.rc)}")
            infos.append(info)
        try:
            for info in infos:
                info.wait_for_publish(self.config.timeout_s)
        except (RuntimeError, ValueError) as exc:  # paho: connection lost / queue refused
            return SendResult(ok=False, retryable=True, detail=f"publish failed: {exc}")
        if not all(info.is_published() for info in infos):
            return SendResult(ok=False, retryable=True, detail="broker did not acknowledge")
        return SendResult(ok=True, detail=f"{len(infos)} state(s) retained")

    def close(self) -> None:
        if self._client is not None:
            self._client.stop()
            self._client = None
