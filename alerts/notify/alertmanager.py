"""Push alerts to an existing Prometheus Alertmanager through its v2 API.

Why: sites that already run Alertmanager (with its silences, inhibitions and receivers) want
heatwatch's alerts next to the rest, handled the same way. heatwatch is then a client like
Prometheus: ``POST {url}/api/v2/alerts`` with labels (alertname, severity, station, zone plus
``extra_labels``), annotations (summary, the plain-words line, the link to the operator page,
the alert's own annotations), ``startsAt``, ``endsAt`` and ``generatorURL``.

Firing alerts are a lease, as Prometheus keeps them: every alert this receiver was sent and
that still fires is pushed again every ``resend_s`` (Prometheus' ``--rules.alert.resend-delay``,
1 min) with ``endsAt`` = now + 4 x ``resend_s`` (``rules/alerting.go``, ``sendAlerts``:
``ValidUntil = ts + 4 * max(interval, resendDelay)``, "allow for two Eval or Alertmanager send
failures"). So an alert heatwatch no longer vouches for - heatwatch stopped, or a label set
it replaced - ends by itself within minutes, not after days. Resolved: ``endsAt`` = the
resolve time, at once.

Alertmanager identifies an alert by its label set, and ``severity`` is a label (routes match
on it). When an alert's labels change (a severity change), the label set pushed before is
resolved in the same push (``endsAt`` = now), so the old severity does not stay firing beside
the new one. The notifier remembers what it pushed per alert for that; after a restart the
first refresh re-pushes every firing alert, and an old label set it no longer knows ends with
its lease.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerts.model import Alert, EventKind
from alerts.notify.base import Notification, SendResult
from alerts.notify.render import Language, Renderer, alert_url
from alerts.notify.templates import TemplateSet
from alerts.notify.webhook import (
    CONNECT_TIMEOUT_S,
    alert_annotations,
    http_result,
    http_timeout,
    rfc3339,
    transport_error,
)

__all__ = ["LEASES", "AlertmanagerConfig", "AlertmanagerNotifier", "v2_alert"]

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class AlertmanagerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://", description="Alertmanager base URL")
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    resend_s: float = Field(default=60.0, gt=0, description="re-push of firing alerts; "
                            "their endsAt is 4 times this ahead")
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


LEASES = 4  # endsAt of a firing alert: this many resend intervals ahead (as Prometheus)


def v2_alert(alert: Alert, renderer: Renderer, config: AlertmanagerConfig, ends: float
             ) -> dict[str, Any]:
    """One ``postableAlert``."""
    url = alert_url(renderer.external_url, alert.id)
    annotations = {**alert_annotations(alert), "description": renderer.what(alert)}
    if url:
        annotations["url"] = url
    return {
        "labels": {**config.extra_labels, **alert.labels()},
        "annotations": annotations,
        "startsAt": rfc3339(alert.fired_at or alert.active_at),
        "endsAt": rfc3339(ends),
        "generatorURL": url or renderer.external_url,
    }


class AlertmanagerNotifier:
    def __init__(self, name: str, config: AlertmanagerConfig, *, language: Language = "en",
                 external_url: str = "", timezone: str = "UTC",
                 client: httpx.Client | None = None, templates: TemplateSet | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.config = config
        self.resend_s = config.resend_s  # the delivery worker calls refresh() this often
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone, templates=templates)
        headers = ({"Authorization": f"Bearer {config.bearer_token.get_secret_value()}"}
                   if config.bearer_token else {})
        self._client = client or httpx.Client(
            timeout=http_timeout(config.timeout_s, config.connect_timeout_s),
            headers=headers)
        self._endpoint = f"{config.url.rstrip('/')}/api/v2/alerts"
        self._wall_clock = wall_clock  # endsAt is a lease in Alertmanager's (wall) time
        self._lock = threading.Lock()
        self._pushed: dict[str, dict[str, Any]] = {}  # alert id -> last firing push of it

    def body(self, alerts: Iterable[tuple[Alert, bool]], renderer: Renderer
             ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any] | None]]:
        """The push for ``(alert, resolved)`` pairs, with the replaced label sets resolved;
        and what to remember per alert id once Alertmanager took it (None: forget)."""
        now = self._wall_clock()
        out: list[dict[str, Any]] = []
        remember: dict[str, dict[str, Any] | None] = {}
        with self._lock:
            pushed = dict(self._pushed)
        for alert, resolved in alerts:
            ends = (alert.resolved_at or now) if resolved else now + LEASES * self.config.resend_s
            item = v2_alert(alert, renderer, self.config, ends)
            old = pushed.get(alert.id)
            if old is not None and old["labels"] != item["labels"]:
                out.append({**old, "endsAt": rfc3339(now)})  # the replaced label set ends now
            out.append(item)
            remember[alert.id] = None if resolved else item
        return out, remember

    def _post(self, body: list[dict[str, Any]],
              remember: dict[str, dict[str, Any] | None]) -> SendResult:
        if not body:
            return SendResult(ok=True, detail="nothing to push")
        try:
            resp = self._client.post(self._endpoint, json=body)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        result = http_result(resp)  # 400: alerts Alertmanager refuses; retrying cannot help
        if result.ok:
            with self._lock:
                for alert_id, item in remember.items():
                    if item is None:
                        self._pushed.pop(alert_id, None)
                    else:
                        self._pushed[alert_id] = item
        return result

    def deliver(self, note: Notification) -> SendResult:
        renderer = self.renderer.for_language(note.language)
        body, remember = self.body(
            ((i.alert, i.kind is EventKind.RESOLVED) for i in note.items), renderer)
        return self._post(body, remember)

    def refresh(self, alerts: Iterable[Alert]) -> SendResult:
        """Renew the lease of every alert this receiver holds firing (called every
        ``resend_s`` by its delivery worker with the open alerts it was sent)."""
        body, remember = self.body(((a, False) for a in alerts), self.renderer)
        return self._post(body, remember)

    def close(self) -> None:
        self._client.close()
