"""Webhook notifier speaking Alertmanager's webhook JSON (``version: "4"``).

Why that format: every chat bridge, ticketing hook and on-call tool already accepts it, so
heatwatch needs no bespoke integrations. One message per alert event (no grouping yet); the
idempotency key travels as the ``Idempotency-Key`` header so a receiver can drop the rare
duplicate that at-least-once delivery can produce after a crash mid-send.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from alerts.model import Alert, EventKind
from alerts.notify.base import SendResult
from alerts.store import OutboxItem

__all__ = ["WebhookConfig", "WebhookNotifier", "alertmanager_payload"]

ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)
    external_url: str = ""
    send_resolved: bool = True
    headers: dict[str, str] = {}


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _annotations(alert: Alert) -> dict[str, str]:
    out = {"summary": alert.summary, "alert_id": alert.id, **alert.annotations}
    if alert.flapping:
        out["flapping"] = "true"
    if alert.acked_by:
        out["acked_by"] = alert.acked_by
        out["ack_comment"] = alert.ack_comment or ""
    if alert.assignee:
        out["assignee"] = alert.assignee
    return out


def alertmanager_payload(item: OutboxItem, receiver: str, external_url: str) -> dict[str, Any]:
    """The body Alertmanager would POST for a group holding just this alert."""
    alert = item.alert
    status = "resolved" if item.kind is EventKind.RESOLVED else "firing"
    labels = alert.labels()
    annotations = _annotations(alert)
    # Grouped by identity (rule + subject), not severity: an escalation updates the same group.
    group = {k: v for k, v in labels.items() if k in ("alertname", "station", "zone")}
    if alert.station:
        group.pop("zone", None)
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": _rfc3339(alert.fired_at or alert.active_at),
                "endsAt": _rfc3339(alert.resolved_at if status == "resolved" else None),
                "generatorURL": external_url,
                "fingerprint": alert.fingerprint,
            }
        ],
    }


class WebhookNotifier:
    def __init__(
        self, name: str, config: WebhookConfig, *, client: httpx.Client | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._client = client or httpx.Client(timeout=config.timeout_s)

    def send(self, item: OutboxItem) -> SendResult:
        if item.kind is EventKind.RESOLVED and not self.config.send_resolved:
            return SendResult(ok=True, detail="resolved not wanted by receiver")
        body = alertmanager_payload(item, self.name, self.config.external_url)
        headers = {**self.config.headers, "Idempotency-Key": item.key}
        try:
            resp = self._client.post(self.config.url, json=body, headers=headers)
        except httpx.HTTPError as exc:  # connect, timeout, protocol: the network may recover
            return SendResult(ok=False, retryable=True, detail=f"{type(exc).__name__}: {exc}")
        if resp.is_success:
            return SendResult(ok=True, detail=str(resp.status_code))
        retryable = resp.status_code >= 500 or resp.status_code == 429
        return SendResult(
            ok=False, retryable=retryable, detail=f"HTTP {resp.status_code}: {resp.text[:200]}"
        )

    def close(self) -> None:
        self._client.close()
