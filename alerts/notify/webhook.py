"""Webhook notifier speaking Alertmanager's webhook JSON (``version: "4"``).

Why that format: every chat bridge, ticketing hook and on-call tool already accepts it, so
heatwatch needs no bespoke integrations. One message per group (per alert without routes);
the idempotency key travels as the ``Idempotency-Key`` header so a receiver can drop the rare
duplicate that at-least-once delivery can produce after a crash mid-send.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.model import Alert, EventKind
from alerts.notify.base import Notification, SendResult
from alerts.notify.render import alert_url

__all__ = [
    "WebhookConfig",
    "WebhookNotifier",
    "alert_annotations",
    "group_payload",
    "http_result",
    "http_timeout",
    "rfc3339",
    "transport_error",
]

ZERO_TIME = "0001-01-01T00:00:00Z"


CONNECT_TIMEOUT_S = 3.0


def http_timeout(timeout_s: float, connect_timeout_s: float) -> httpx.Timeout:
    """A short connect timeout: a receiver that is down (or whose address drops packets)
    costs its worker seconds, not the whole ``timeout_s``; an answer may take longer."""
    return httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    external_url: str = ""
    send_resolved: bool = True
    # Values are secrets (Authorization: Bearer ...): never shown in reprs, dumps or logs.
    headers: dict[str, SecretStr] = {}


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def alert_annotations(alert: Alert) -> dict[str, str]:
    out = {"summary": alert.summary, "alert_id": alert.id, **alert.annotations}
    if alert.flapping:
        out["flapping"] = "true"
    if alert.acked_by:
        out["acked_by"] = alert.acked_by
        out["ack_comment"] = alert.ack_comment or ""
    if alert.assignee:
        out["assignee"] = alert.assignee
    return out


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    first, *rest = dicts
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in rest)}


def group_payload(note: Notification, external_url: str) -> dict[str, Any]:
    """The body Alertmanager would POST for this group."""
    alerts: list[dict[str, Any]] = []
    labels: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    for item in note.items:
        alert = item.alert
        status = "resolved" if item.kind is EventKind.RESOLVED else "firing"
        labels.append(alert.labels())
        notes.append(alert_annotations(alert))
        alerts.append({
            "status": status,
            "labels": labels[-1],
            "annotations": notes[-1],
            "startsAt": rfc3339(alert.fired_at or alert.active_at),
            "endsAt": rfc3339(alert.resolved_at if status == "resolved" else None),
            "generatorURL": alert_url(external_url, alert.id) or external_url,
            "fingerprint": alert.fingerprint,
        })
    return {
        "version": "4",
        "groupKey": note.group_key,
        "truncatedAlerts": 0,
        "status": note.status,
        "receiver": note.receiver,
        "groupLabels": note.group_labels,
        "commonLabels": _common(labels),
        "commonAnnotations": _common(notes),
        "externalURL": external_url,
        "alerts": alerts,
    }


def http_result(resp: httpx.Response) -> SendResult:
    """2xx ok; 5xx and 429 retryable; any other status is the request's fault."""
    if resp.is_success:
        return SendResult(ok=True, detail=str(resp.status_code))
    retryable = resp.status_code >= 500 or resp.status_code == 429
    return SendResult(
        ok=False, retryable=retryable, detail=f"HTTP {resp.status_code}: {resp.text[:200]}"
    )


def transport_error(exc: httpx.HTTPError) -> SendResult:
    """Connect, timeout, protocol errors: the network may recover, so retry."""
    return SendResult(ok=False, retryable=True, detail=f"{type(exc).__name__}: {exc}")


class WebhookNotifier:
    def __init__(
        self, name: str, config: WebhookConfig, *, client: httpx.Client | None = None,
        external_url: str = "",
    ) -> None:
        """``external_url``: the notifications-wide one, used when the webhook sets none."""
        self.name = name
        self.config = config
        self.external_url = config.external_url or external_url
        self._client = client or httpx.Client(
            timeout=http_timeout(config.timeout_s, config.connect_timeout_s))

    def deliver(self, note: Notification) -> SendResult:
        items = tuple(i for i in note.items
                      if i.kind is not EventKind.RESOLVED or self.config.send_resolved)
        if not items:
            return SendResult(ok=True, detail="resolved not wanted by receiver")
        note = Notification(self.name, note.group_key, note.group_labels, items)
        body = group_payload(note, self.external_url)
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        headers["Idempotency-Key"] = note.key
        try:
            resp = self._client.post(self.config.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return http_result(resp)

    def close(self) -> None:
        self._client.close()
