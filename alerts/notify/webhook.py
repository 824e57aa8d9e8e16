"""Webhook notifier speaking Alertmanager's webhook JSON (``version: "4"``).

Why that format: every chat bridge, ticketing hook and on-call tool already accepts it, so
heatwatch needs no bespoke integrations. One message per group; the idempotency key travels
as the ``Idempotency-Key`` header so a receiver can drop the rare duplicate that at-least-once
delivery can produce after a crash mid-send.

A message carries the group's *state*, as Alertmanager's does: an aggregation group flushes
every alert it holds - the ones still firing and the ones resolved since the last flush
(``dispatch/dispatch.go``, ``aggrGroup.flush``) - and the message ``status`` is ``firing``
while any of them fires (``template.Data``; ``notify/webhook/webhook.go`` posts that data with
``version``, ``groupKey`` and ``truncatedAlerts``, ``max_alerts`` cutting the list). On-call
tools rely on it: Grafana OnCall's Alertmanager integration resolves the whole incident of a
``groupKey`` on ``status: "resolved"``. So besides the rows due now, ``alerts`` lists the
group's other alerts still firing at this receiver (:attr:`Notification.firing`), and one
station resolving in a zone that still has a leak says ``firing``.
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
    max_alerts: int = Field(default=0, ge=0, description="alerts per message, 0 = all "
                            "(Alertmanager's max_alerts; the rest counted in truncatedAlerts)")
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


def group_payload(note: Notification, external_url: str, max_alerts: int = 0
                  ) -> dict[str, Any]:
    """The body Alertmanager would POST for this group: the rows of the message, then the
    group's other alerts still firing; ``status`` over all of them."""
    alerts: list[dict[str, Any]] = []
    labels: list[dict[str, str]] = []
    notes: list[dict[str, str]] = []
    current = [(i.alert, i.kind is EventKind.RESOLVED) for i in note.items]
    listed = {a.id for a, _ in current}
    current += [(a, False) for a in note.firing if a.id not in listed]
    for alert, done in current:
        status = "resolved" if done else "firing"
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
    truncated = max(len(alerts) - max_alerts, 0) if max_alerts else 0
    return {
        "version": "4",
        "groupKey": note.group_key,
        "truncatedAlerts": truncated,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": note.receiver,
        "groupLabels": note.group_labels,
        "commonLabels": _common(labels),
        "commonAnnotations": _common(notes),
        "externalURL": external_url,
        "alerts": alerts[:max_alerts] if max_alerts else alerts,
    }


def retry_after(resp: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the delay form; an HTTP date is ignored)."""
    try:
        value = float(resp.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def http_result(resp: httpx.Response) -> SendResult:
    """2xx ok; 5xx and 429 retryable (not before ``Retry-After``); any other status is the
    request's fault."""
    if resp.is_success:
        return SendResult(ok=True, detail=str(resp.status_code))
    retryable = resp.status_code >= 500 or resp.status_code == 429
    return SendResult(
        ok=False, retryable=retryable, detail=f"HTTP {resp.status_code}: {resp.text[:200]}",
        retry_after_s=retry_after(resp) if retryable else None,
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

    # The dispatcher fills Notification.firing for channels that say they want it.
    group_state = True

    def deliver(self, note: Notification) -> SendResult:
        items = tuple(i for i in note.items
                      if i.kind is not EventKind.RESOLVED or self.config.send_resolved)
        if not items:  # as Alertmanager: without send_resolved a resolve alone sends nothing
            return SendResult(ok=True, detail="resolved not wanted by receiver")
        note = Notification(self.name, note.group_key, note.group_labels, items,
                            firing=note.firing)
        body = group_payload(note, self.external_url, self.config.max_alerts)
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        headers["Idempotency-Key"] = note.key
        try:
            resp = self._client.post(self.config.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return http_result(resp)

    def close(self) -> None:
        self._client.close()
