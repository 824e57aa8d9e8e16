"""Pacing for receivers with a message quota: the DingTalk and WeCom group robots.

Why: both robots take at most 20 messages a minute; DingTalk then refuses everything for
10 minutes (``errcode 130101``), WeCom answers ``45009``. A zone-wide fault or a restart with
a backlog used to send a message per group as fast as the robot answered, hit the quota, and
retry into the throttle - so the crew saw the first 20 pages and nothing for 10 minutes.

Now each such receiver has a token bucket (:class:`TokenBucket`): ``burst`` tokens, refilled
at ``(messages - burst) / window_s`` per second, so no ``window_s`` ever holds more than
``messages`` sends (the tokens at the start of any window plus what refills within it). The
dispatcher sends a due message only with a token; when more messages are due than tokens are
left, the last token carries all the rest folded into one summary message (DingTalk's own
advice for monitoring: "整合... 以摘要的形式发送"). A throttle reply blocks the bucket for
the robot's throttle time (``retry_after_s`` of the result), so nothing is sent into it.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RateLimit", "TokenBucket"]


class RateLimit(BaseModel):
    """A robot's quota: at most ``messages`` per ``window_s``, ``burst`` of them at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: int = Field(default=20, ge=2, description="the robot's limit per window")
    window_s: float = Field(default=60.0, gt=0)
    burst: int = Field(default=5, ge=1, description="sent at once before pacing starts")

    @model_validator(mode="after")
    def _burst_below_limit(self) -> RateLimit:
        if self.burst >= self.messages:
            raise ValueError(f"burst ({self.burst}) must be below messages ({self.messages}): "
                             "the rest of the quota is what refills the bucket")
        return self

    @property
    def refill_per_s(self) -> float:
        return (self.messages - self.burst) / self.window_s


class TokenBucket:
    """One receiver's send tokens, on the dispatcher's clock. Thread-safe."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._at = now
        self.blocked_until = float("-inf")

    def _refill(self, now: float) -> None:
        if now <= self._at:
            return
        start = max(self._at, self.blocked_until)
        if now > start:
            self._tokens = min(float(self.limit.burst),
                               self._tokens + (now - start) * self.limit.refill_per_s)
        self._at = now

    def available(self, now: float) -> int:
        """Whole tokens that may be spent now (0 while blocked)."""
        with self._lock:
            if now < self.blocked_until:
                return 0
            self._refill(now)
            return int(self._tokens + 1e-9)

    def take(self, now: float) -> bool:
        with self._lock:
            if now < self.blocked_until:
                return False
            self._refill(now)
            if self._tokens + 1e-9 < 1.0:
                return False
            self._tokens -= 1.0
            return True

    def block(self, until: float, now: float) -> None:
        """The robot throttles until ``until``: no sends, and an empty bucket after it."""
        with self._lock:
            self._refill(now)
            self._tokens = 0.0
            self.blocked_until = max(self.blocked_until, until)

    def next_at(self, now: float) -> float:
        """When the next token will be there (``now`` if one is)."""
        with self._lock:
            if now < self.blocked_until:
                return self.blocked_until + 1.0 / self.limit.refill_per_s
            self._refill(now)
            if self._tokens + 1e-9 >= 1.0:
                return now
            return now + (1.0 - self._tokens) / self.limit.refill_per_s
