"""What the Chinese group robots (DingTalk, WeCom) share: a JSON reply with ``errcode``.

Both answer HTTP 200 for most failures and put the reason in ``errcode``: 0 is success, a
rate limit (DingTalk 130101: more than 20 messages a minute; WeCom 45009) or "system busy"
(-1) may succeed later, anything else (bad token, bad signature, keyword or IP rule, malformed
message) will not. Their credentials travel in the URL, so error details are redacted here
before they reach the outbox's ``last_error`` or a log line.
"""

from __future__ import annotations

from collections.abc import Iterable

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
                 secrets: Iterable[str] = ()) -> SendResult:
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
    return SendResult(ok=False, retryable=code in retryable_codes,
                      detail=redact(f"errcode {code}: {message[:200]}", secrets))


def transport_failure(exc: httpx.HTTPError, secrets: Iterable[str]) -> SendResult:
    """Network trouble is retryable; the message may carry the URL, so redact it."""
    return SendResult(ok=False, retryable=True,
                      detail=redact(f"{type(exc).__name__}: {exc}", secrets))
