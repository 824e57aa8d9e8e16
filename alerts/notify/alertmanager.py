"""Push alerts to an existing Prometheus Alertmanager through its v2 API.

Why: sites that already run Alertmanager (with its silences, inhibitions and receivers) want
heatwatch's alerts next to the rest, handled the same way. heatwatch is then a client like
Prometheus: ``POST {url}/api/v2/alerts`` with labels (alertname, severity, station, zone plus
``extra_labels``), annotations (summary, the plain-words line, the link to the operator page,
the alert's own annotations), ``startsAt``, ``endsAt`` and ``generatorURL``.

Resolved: ``endsAt`` = the resolve time. Firing: Alertmanager resolves an alert by itself
``resolve_timeout`` (5 min) after the last push when ``endsAt`` is empty, and Prometheus avoids
that by pushing every evaluation; heatwatch pushes on transitions (and repeats) only, so a
firing alert is sent with ``endsAt`` = event time + ``firing_ttl_s`` (default 7 days): it stays
active until heatwatch resolves it, and expires by itself if heatwatch is gone for good.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerts.model import EventKind
from alerts.notify.base import Notification, SendResult
from alerts.notify.render import Language, Renderer, alert_url
from alerts.notify.webhook import (
    CONNECT_TIMEOUT_S,
    alert_annotations,
    http_result,
    http_timeout,
    rfc3339,
    transport_error,
)

__all__ = ["AlertmanagerConfig", "AlertmanagerNotifier", "v2_alerts"]

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class AlertmanagerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://", description="Alertmanager base URL")
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    firing_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    extra_labels: dict[str, str] = {"source": "heatwatch"}
    bearer_token: SecretStr | None = None
    language: Language | None = None

    @field_validator("extra_labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        """Alertmanager refuses the whole push for one bad label name: say so at start-up."""
        if bad := [k for k in value if not LABEL_NAME.fullmatch(k)]:
            raise ValueError(f"not Prometheus label names: {bad}")
        return value


def v2_alerts(note: Notification, renderer: Renderer, config: AlertmanagerConfig
              ) -> list[dict[str, Any]]:
    """The ``postableAlerts`` body for one message."""
    out = []
    for item in note.items:
        alert = item.alert
        resolved = item.kind is EventKind.RESOLVED
        ends = alert.resolved_at if resolved else item.ts + config.firing_ttl_s
        url = alert_url(renderer.external_url, alert.id)
        annotations = {**alert_annotations(alert), "description": renderer.what(alert)}
        if url:
            annotations["url"] = url
        out.append({
            "labels": {**config.extra_labels, **alert.labels()},
            "annotations": annotations,
            "startsAt": rfc3339(alert.fired_at or alert.active_at),
            "endsAt": rfc3339(ends if ends is not None else item.ts),
            "generatorURL": url or renderer.external_url,
        })
    return out


class AlertmanagerNotifier:
    def __init__(self, name: str, config: AlertmanagerConfig, *, language: Language = "en",
                 external_url: str = "", timezone: str = "UTC",
                 client: httpx.Client | None = None) -> None:
        self.name = name
        self.config = config
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone)
        headers = ({"Authorization": f"Bearer {config.bearer_token.get_secret_value()}"}
                   if config.bearer_token else {})
        self._client = client or httpx.Client(
            timeout=http_timeout(config.timeout_s, config.connect_timeout_s),
            headers=headers)
        self._endpoint = f"{config.url.rstrip('/')}/api/v2/alerts"

    def deliver(self, note: Notification) -> SendResult:
        body = v2_alerts(note, self.renderer.for_language(note.language), self.config)
        try:
            resp = self._client.post(self._endpoint, json=body)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return http_result(resp)  # 400: alerts Alertmanager refuses; retrying cannot help

    def close(self) -> None:
        self._client.close()
