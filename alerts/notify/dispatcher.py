"""Deliver the outbox: the retry stage of Alertmanager's notification pipeline, over SQLite.

The engine only *enqueues* (in the same transaction as the transition); this drains. A row is
marked sent right after its receiver accepted it, so a restart resumes with exactly the rows
that were never accepted: nothing lost, nothing re-sent (bar a crash between the receiver's
2xx and our commit - the ``Idempotency-Key`` header covers that window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

from alerts.notify.base import Notifier
from alerts.store import Store

__all__ = ["DeliveryStats", "Dispatcher", "RetryPolicy"]

NOTIFICATIONS = Counter(
    "heatwatch_alert_notifications_total",
    "Notification delivery attempts by receiver and outcome",
    ["receiver", "outcome"],
)


class RetryPolicy(BaseModel):
    """Capped exponential backoff; give up (status ``failed``) after ``give_up_after_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    give_up_after_s: float = Field(default=86400.0, gt=0)

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after ``attempts`` failed ones (1, 2, 4, ... capped)."""
        return float(min(self.max_backoff_s, self.initial_backoff_s * 2 ** max(attempts - 1, 0)))


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        clock: Callable[[], float],
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.clock = clock
        self.policy = policy or RetryPolicy()

    def run_once(self, now: float | None = None, *, limit: int = 100) -> DeliveryStats:
        """Try each due notification once (per alert and receiver strictly in order)."""
        now = self.clock() if now is None else now
        stats = DeliveryStats()
        for item in self.store.due(now, limit=limit):
            notifier = self.notifiers.get(item.receiver)
            if notifier is None:
                self.store.mark_failed(item.key, f"no receiver named {item.receiver!r}")
                stats.failed += 1
                continue
            result = notifier.send(item)
            attempts = item.attempts + 1
            if result.ok:
                self.store.mark_sent(item.key, now)
                stats.sent += 1
                outcome = "sent"
            elif result.retryable and now - item.ts < self.policy.give_up_after_s:
                self.store.mark_retry(item.key, now + self.policy.backoff(attempts), result.detail)
                stats.retried += 1
                outcome = "retry"
            else:
                self.store.mark_failed(item.key, result.detail)
                stats.failed += 1
                outcome = "failed"
            NOTIFICATIONS.labels(item.receiver, outcome).inc()
        return stats
