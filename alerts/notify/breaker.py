"""Circuit breaker per receiver: stop knocking on a receiver that keeps failing.

Why: each receiver has its own delivery worker (:mod:`alerts.notify.workers`), so a hung
receiver no longer delays anyone else; but without a breaker its worker would still spend a
full timeout on every group in its backlog, one after the other, and a receiver that comes
back would wait behind all of them. After ``failures`` retryable failures in a row the breaker
opens: nothing is sent to that receiver for ``cooldown_s``; then one message is let through
(half-open) - success closes the breaker, another failure opens it for the next cooldown.
Rows wait in the outbox meanwhile, untouched (no attempt counted); rows past the retry budget
are given up without a send (the dispatcher raises ``notification_failed`` for them).

Non-retryable failures (bad credentials, malformed request) do not trip it: they say nothing
about whether the next message would get through.
"""

from __future__ import annotations

import enum
import threading

from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BREAKER_OPEN", "Breaker", "BreakerPolicy", "BreakerState"]

BREAKER_OPEN = Gauge(
    "heatwatch_alert_receiver_circuit_open",
    "1 while a receiver's circuit breaker holds its messages back after repeated failures",
    ["receiver"],
)


class BreakerPolicy(BaseModel):
    """``notifications.breaker``: when a receiver is given a rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(default=3, ge=1, description="retryable failures in a row that open it")
    cooldown_s: float = Field(default=30.0, gt=0, description="rest before one trial message")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """One receiver's breaker, on the dispatcher's clock (event time in replays)."""

    def __init__(self, receiver: str, policy: BreakerPolicy) -> None:
        self.receiver = receiver
        self.policy = policy
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial message is out
        BREAKER_OPEN.labels(receiver).set(0)

    def state(self, now: float) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return BreakerState.CLOSED
            if now - self._opened_at < self.policy.cooldown_s:
                return BreakerState.OPEN
            return BreakerState.HALF_OPEN

    def allow(self, now: float) -> bool:
        """May a message go out now? In half-open state only one, until its result is in."""
        with self._lock:
            if self._opened_at is None:
                return True
            if now - self._opened_at < self.policy.cooldown_s or self._trial:
                return False
            self._trial = True
            return True

    def record(self, *, ok: bool, retryable: bool, now: float) -> None:
        with self._lock:
            self._trial = False
            if ok or not retryable:
                self._failures = 0
                self._opened_at = None
                BREAKER_OPEN.labels(self.receiver).set(0)
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.policy.failures:
                self._opened_at = now
                BREAKER_OPEN.labels(self.receiver).set(1)
