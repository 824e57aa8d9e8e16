"""WeCom (企业微信) group robot: Markdown messages to ``.../webhook/send?key=KEY``.

The key is the only credential (no signature). WeCom caps a Markdown message at 4096 bytes,
so a long group is cut at a line boundary with a note of how many lines were left out (the
operator page has them all). ``errcode`` 0 ok; -1 (busy) is retried with backoff, 45009
(over 20 messages a minute) after ``throttle_s`` (the pacing waits as long), the rest (93000:
invalid key, ...) fail at once. Messages are paced to ``rate_limit`` (20 a minute). ``url``
defaults to WeCom's endpoint; tests point it at a loopback recorder.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.notify.base import Notification, SendResult
from alerts.notify.pacing import RateLimit
from alerts.notify.render import Language, Renderer
from alerts.notify.robot import robot_result, transport_failure
from alerts.notify.templates import TemplateSet
from alerts.notify.webhook import CONNECT_TIMEOUT_S, http_timeout

__all__ = ["MAX_BYTES", "RETRYABLE", "THROTTLED", "WeComConfig", "WeComNotifier", "fit"]

RETRYABLE = frozenset({-1})
THROTTLED = 45009  # API freq out of limit: over 20 messages a minute
MAX_BYTES = 4096


class WeComConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(default="https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
                     pattern=r"^https?://")
    key: SecretStr
    language: Language | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    rate_limit: RateLimit = RateLimit()
    throttle_s: float = Field(default=60.0, gt=0, description="wait after a 45009 reply")


def fit(text: str, limit: int = MAX_BYTES) -> str:
    """Cut ``text`` at a line boundary to at most ``limit`` UTF-8 bytes."""
    if len(text.encode()) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        note = f"... (+{len(lines) - i})"
        if len("\n".join([*kept, line, note]).encode()) > limit:
            return "\n".join([*kept, note])
        kept.append(line)
    return "\n".join(kept)


class WeComNotifier:
    def __init__(self, name: str, config: WeComConfig, *, language: Language = "zh",
                 external_url: str = "", timezone: str = "UTC",
                 client: httpx.Client | None = None,
                 templates: TemplateSet | None = None) -> None:
        self.name = name
        self.config = config
        self.rate_limit = config.rate_limit  # the dispatcher paces this receiver to it
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone, templates=templates)
        self._client = client or httpx.Client(
            timeout=http_timeout(config.timeout_s, config.connect_timeout_s))
        self._secrets = [config.key.get_secret_value()]

    def url(self) -> str:
        return f"{self.config.url}?key={urllib.parse.quote_plus(self._secrets[0])}"

    def body(self, note: Notification) -> dict[str, Any]:
        markdown = self.renderer.for_language(note.language).render(note).markdown
        return {"msgtype": "markdown", "markdown": {"content": fit(markdown)}}

    def deliver(self, note: Notification) -> SendResult:
        try:
            resp = self._client.post(self.url(), json=self.body(note))
        except httpx.HTTPError as exc:
            return transport_failure(exc, self._secrets)
        return robot_result(resp, RETRYABLE, self._secrets, {THROTTLED: self.config.throttle_s})

    def close(self) -> None:
        self._client.close()
