"""What the Chinese group robots (DingTalk, WeCom) share: a JSON reply with ``errcode``.

Both answer HTTP 200 for most failures and put the reason in ``errcode``: 0 is success, a
rate limit (DingTalk 130101: more than 20 messages a minute, then 10 minutes of refusals;
WeCom 45009) or "system busy" (-1) may succeed later, anything else (bad token, bad signature,
keyword or IP rule, malformed message) will not. A rate-limit reply says when to come back
(``retry_after_s``): retrying at 1, 2, 4 s would only knock on the throttle. Both channels are
paced to the quota before that ever happens (``rate_limit``, :mod:`alerts.notify.pacing`).
Their credentials travel in the URL, so error details are redacted here before they reach the
outbox's ``last_error`` or a log line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from alerts.notify.base import SendResult
from alerts.notify.webhook import http_result

__all__ = ["redact", "robot_result", "transport_failure"]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def robot_result(resp: httpx.Response, retryable_codes: frozenset[int],
                 secrets: Iterable[str] = (), throttles: Mapping[int, float] | None = None
                 ) -> SendResult:
    """``throttles``: rate-limit codes and how long the robot then refuses everything; such
    a reply is retryable, but not before that time (``retry_after_s``)."""
    if not resp.is_success:
        result = http_result(resp)
        return SendResult(result.ok, result.retryable, redact(result.detail, secrets))
    try:
        body = resp.json()
        code = int(body.get("errcode", -1))
        message = str(body.get("errmsg", ""))
    except (ValueError, AttributeError, TypeError):
        return SendResult(ok=False, retryable=True, detail=f"not a robot reply: {resp.text[:100]}")
    if code == 0:
        return SendResult(ok=True, detail="errcode 0")
    throttle = (throttles or {}).get(code)
    return SendResult(ok=False, retryable=code in retryable_codes or throttle is not None,
                      detail=redact(f"errcode {code}: {message[:200]}", secrets),
                      retry_after_s=throttle)


def transport_failure(exc: httpx.HTTPError, secrets: Iterable[str]) -> SendResult:
    """Network trouble is retryable; the message may carry the URL, so redact it."""
    return SendResult(ok=False, retryable=True,
                      detail=redact(f"{type(exc).__name__}: {exc}", secrets))
