"""The ``notifications`` block: every channel by name, routes, and building the notifiers.

Why one place: a receiver name is what routes point at, so names must be unique across
channel types, every route must name existing receivers, and a typo must stop the service at
start-up (with the key path), not drop a page at 3 a.m. Secrets (SMTP password, robot tokens
and keys, MQTT password, Alertmanager token) are ``SecretStr``: they never show in a repr, a
log line or an error.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.notify.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from alerts.notify.base import GroupNotifier
from alerts.notify.dingtalk import DingTalkConfig, DingTalkNotifier
from alerts.notify.email import EmailConfig, EmailNotifier
from alerts.notify.mqtt import MqttChannelConfig, MqttNotifier
from alerts.notify.render import Language
from alerts.notify.templates import load_templates
from alerts.notify.webhook import WebhookConfig, WebhookNotifier
from alerts.notify.wecom import WeComConfig, WeComNotifier
from alerts.routing import RouteConfig, RouteTable

__all__ = ["ChannelSettings", "build_notifiers"]


class ChannelSettings(BaseModel):
    """Receivers by channel type and name, the routes between them, and message defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_url: str = Field(default="", description="operator page, for alert links")
    language: Language = "en"
    timezone: str = "UTC"
    templates: Path | None = Field(default=None, description="directory of en.yaml / zh.yaml "
                                   "overriding the shipped message templates key by key")
    webhooks: dict[str, WebhookConfig] = {}
    email: dict[str, EmailConfig] = {}
    mqtt: dict[str, MqttChannelConfig] = {}
    alertmanager: dict[str, AlertmanagerConfig] = {}
    dingtalk: dict[str, DingTalkConfig] = {}
    wecom: dict[str, WeComConfig] = {}
    routes: list[RouteConfig] = []
    escalation_check_s: float = Field(default=5.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: Path | None) -> Path | None:
        load_templates(value)  # every problem (file, key, Jinja line) stops the start here
        return value

    def receiver_names(self) -> list[str]:
        names: list[str] = []
        for group in (self.webhooks, self.email, self.mqtt, self.alertmanager, self.dingtalk,
                      self.wecom):
            names += list(group)
        return names

    @model_validator(mode="after")
    def _names(self) -> ChannelSettings:
        names = self.receiver_names()
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"receiver names must be unique across channel types: {dupes}")
        if bad := [n for n in names if n.startswith("_")]:
            raise ValueError(f"receiver names starting with '_' are reserved: {bad}")
        ids = [m.client_id for m in self.mqtt.values()]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"mqtt channels need their own client_id (the broker kicks "
                             f"duplicates): {dupes}")
        self.route_table()  # unknown receivers in routes fail here, at start-up
        return self

    def route_table(self) -> RouteTable:
        return RouteTable(self.routes, self.receiver_names())


def build_notifiers(s: ChannelSettings) -> dict[str, GroupNotifier]:
    """One notifier per configured receiver (nothing connects until the first message)."""
    lang, url, tz = s.language, s.external_url, s.timezone
    t = load_templates(s.templates)
    out: dict[str, GroupNotifier] = {}
    for name, web in s.webhooks.items():
        out[name] = WebhookNotifier(name, web, external_url=s.external_url)
    for name, mail in s.email.items():
        out[name] = EmailNotifier(name, mail, language=lang, external_url=url, timezone=tz,
                                  templates=t)
    for name, broker in s.mqtt.items():
        out[name] = MqttNotifier(name, broker, language=lang, external_url=url, timezone=tz,
                                 templates=t)
    for name, am in s.alertmanager.items():
        out[name] = AlertmanagerNotifier(name, am, language=lang, external_url=url,
                                         timezone=tz, templates=t)
    for name, ding in s.dingtalk.items():
        out[name] = DingTalkNotifier(name, ding, language=lang, external_url=url, timezone=tz,
                                     templates=t)
    for name, wecom in s.wecom.items():
        out[name] = WeComNotifier(name, wecom, language=lang, external_url=url, timezone=tz,
                                  templates=t)
    return out
