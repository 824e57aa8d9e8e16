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
delivered once the broker acknowledged it (PUBACK) within ``timeout_s``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.model import Alert, EventKind, Scope
from alerts.notify.base import Notification, SendResult
from alerts.notify.render import Language, Renderer, alert_url
from alerts.notify.webhook import ZERO_TIME, rfc3339
from alerts.store import OutboxItem
from heatwatch.mqtt import apply_auth

__all__ = ["MqttChannelConfig", "MqttNotifier", "alert_topic", "state_payload"]


class MqttChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    prefix: str = Field(default="heat", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    client_id: str = Field(default="heatwatch-alerts-notify", min_length=1, max_length=128)
    qos: int = Field(default=1, ge=0, le=2)
    keepalive: int = Field(default=30, ge=5, le=3600)
    timeout_s: float = Field(default=10.0, gt=0)
    language: Language | None = None


def alert_topic(prefix: str, alert: Alert) -> str:
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
                 external_url: str = "", timezone: str = "UTC") -> None:
        self.name = name
        self.config = config
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone)
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None

    def _start(self) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id,
                             clean_session=True)
        apply_auth(client, c)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_async(c.host, c.port, keepalive=c.keepalive)
        client.loop_start()
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()

    def deliver(self, note: Notification) -> SendResult:
        if self._client is None:
            self._client = self._start()
        if not self._connected.wait(self.config.timeout_s):
            return SendResult(ok=False, retryable=True,
                              detail=f"not connected to {self.config.host}:{self.config.port}")
        infos = []
        renderer = self.renderer.for_language(note.language)
        for item in note.items:
            body = state_payload(item, renderer, item.ts)
            info = self._client.publish(alert_topic(self.config.prefix, item.alert),
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

    def send(self, item: OutboxItem) -> SendResult:
        return self.deliver(Notification.single(item))

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
