"""DingTalk (钉钉) custom group robot: Markdown messages, signed.

The robot's "加签" security mode: ``sign = urlencode(base64(HMAC-SHA256(key=secret,
msg=f"{timestamp}\\n{secret}")))`` with the timestamp in milliseconds (DingTalk refuses it
more than an hour off), sent as ``&timestamp=..&sign=..`` next to ``access_token``. The
reply's ``errcode`` decides: 0 ok, -1 (busy) is retried with backoff, 130101 (over 20
messages a minute: DingTalk then refuses the robot for 10 minutes) is retried after
``throttle_s`` and blocks the receiver's pacing as long, the rest (310000: signature, keyword
or IP rule) fail at once. Messages are paced to ``rate_limit`` (20 a minute). Every
message carries ``msgUuid``, the same on a resend of the same rows (a retry, or a restart
after a kill mid-send), for DingTalk's own de-duplication.
``url`` defaults to DingTalk's endpoint; tests point it at a loopback recorder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.notify.base import Notification, SendResult
from alerts.notify.pacing import RateLimit
from alerts.notify.render import Language, Renderer
from alerts.notify.robot import robot_result, transport_failure
from alerts.notify.templates import TemplateSet
from alerts.notify.webhook import CONNECT_TIMEOUT_S, http_timeout

__all__ = ["RETRYABLE", "THROTTLED", "DingTalkConfig", "DingTalkNotifier", "sign"]

RETRYABLE = frozenset({-1})
THROTTLED = 130101  # "send too fast, exceed 20 times per minute"


class DingTalkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(default="https://oapi.dingtalk.com/robot/send", pattern=r"^https?://")
    access_token: SecretStr
    secret: SecretStr | None = Field(default=None, description="加签 secret (SEC...)")
    at_mobiles: list[str] = []
    at_all: bool = False
    language: Language | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    rate_limit: RateLimit = RateLimit()
    throttle_s: float = Field(default=600.0, gt=0, description="DingTalk's throttle after 130101")


def sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's signature, already URL-encoded (as it goes into the query string)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


class DingTalkNotifier:
    def __init__(self, name: str, config: DingTalkConfig, *, language: Language = "zh",
                 external_url: str = "", timezone: str = "UTC",
                 client: httpx.Client | None = None, templates: TemplateSet | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.config = config
        self.rate_limit = config.rate_limit  # the dispatcher paces this receiver to it
        self.renderer = Renderer(config.language or language, external_url=external_url,
                                 timezone=timezone, templates=templates)
        self._client = client or httpx.Client(
            timeout=http_timeout(config.timeout_s, config.connect_timeout_s))
        self._wall_clock = wall_clock  # the signature needs real time, not event time
        self._secrets = [config.access_token.get_secret_value()] + (
            [config.secret.get_secret_value()] if config.secret else [])

    def url(self) -> str:
        token = urllib.parse.quote_plus(self.config.access_token.get_secret_value())
        url = f"{self.config.url}?access_token={token}"
        if self.config.secret is not None:
            ts = int(self._wall_clock() * 1000)
            url += f"&timestamp={ts}&sign={sign(ts, self.config.secret.get_secret_value())}"
        return url

    def body(self, note: Notification) -> dict[str, Any]:
        out = self.renderer.for_language(note.language).render(note)
        text = out.markdown
        if self.config.at_mobiles:  # a mention needs the @number in the text as well
            text += "\n" + " ".join(f"@{m}" for m in self.config.at_mobiles)
        return {
            "msgtype": "markdown",
            "markdown": {"title": out.title, "text": text},
            "at": {"atMobiles": self.config.at_mobiles, "isAtAll": self.config.at_all},
            "msgUuid": str(note.uuid),  # DingTalk drops a second message with the same id
        }

    def deliver(self, note: Notification) -> SendResult:
        try:
            resp = self._client.post(self.url(), json=self.body(note))
        except httpx.HTTPError as exc:
            return transport_failure(exc, self._secrets)
        return robot_result(resp, RETRYABLE, self._secrets, {THROTTLED: self.config.throttle_s})

    def close(self) -> None:
        self._client.close()
