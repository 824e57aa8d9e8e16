"""Deliver the outbox: the send-with-retry stage of the notification pipeline, over SQLite.

The engine only *enqueues* (in the same transaction as the transition) and the routing stage
(:mod:`alerts.notify.delivery`) expands and schedules; this drains. Due rows of the same
receiver and group go out as one message (:class:`~alerts.notify.base.Notification`). A row is
marked sent right after its receiver accepted the message, so a restart resumes with exactly
the rows that were never accepted: nothing lost, nothing re-sent (bar a crash between the
receiver's 2xx and our commit - the ``Idempotency-Key`` header covers that window).

Stages of one message, in order (each a small method, Alertmanager's ``notify`` stages):

1. **hold** (the routing stage's hook): a firing row whose alert is inhibited or muted *now*
   waits, and is dropped if its alert resolves meanwhile - inhibition is re-checked before
   every send, repeats and escalations included, not only when the alert fired;
2. **pace** (:mod:`alerts.notify.pacing`): a receiver with a message quota (the robots)
   sends only with a token; what is due beyond the tokens goes out folded into one summary;
3. **breaker** (:mod:`alerts.notify.breaker`): a receiver that keeps failing is rested;
4. **send** through the receiver's notifier, which says whether a failure is retryable (and
   may say when to come back: ``retry_after_s``, a robot's throttle, HTTP ``Retry-After``);
5. **retry**: backoff for retryable failures within the retry budget, never before the
   receiver's ``retry_after_s`` (a paced receiver sends nothing at all until then); a row
   given up is reported to ``on_failed`` (the routing stage raises ``notification_failed``).

Latency hook for the benchmarks: ``heatwatch_alert_notification_latency_seconds{receiver}``
is the time from the alert event (the row's ``ts``, event time of the transition) to the send
completing, on the dispatcher's clock.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

from alerts.model import Alert
from alerts.notify.base import GroupNotifier, Notification, SendResult
from alerts.notify.breaker import Breaker, BreakerPolicy
from alerts.notify.pacing import RateLimit, TokenBucket
from alerts.rows import OutboxItem
from alerts.store import Store

__all__ = ["NOTIFICATIONS", "DeliveryStats", "Dispatcher", "GroupOf", "GroupState", "Hold",
           "RetryPolicy", "fold"]

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "heatwatch_alert_notifications_total",
    "Notification delivery attempts by receiver and outcome",
    ["receiver", "outcome"],
)
LATENCY = Histogram(
    "heatwatch_alert_notification_latency_seconds",
    "Alert event to notification accepted by the receiver",
    ["receiver"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

# (group key, group labels, language or None) of a row; the routing stage supplies the real one.
GroupOf = Callable[[OutboxItem], tuple[str, dict[str, str], str | None]]
# Called after each attempt: (message, result, completed at) - the routing stage's group clock.
OnResult = Callable[[Notification, SendResult, float], None]
# The group's other alerts still firing at the message's receiver: (message, now).
GroupState = Callable[[Notification, float], tuple[Alert, ...]]
# Called for each row given up: (row, last error, now).
OnFailed = Callable[[OutboxItem, str, float], None]


@dataclass(frozen=True, slots=True)
class Hold:
    """The hold stage's verdict on a row: ``wait`` until ``until`` (no attempt counted) or
    ``drop`` it for good (status ``suppressed``)."""

    action: Literal["wait", "drop"]
    reason: str
    until: float = 0.0


HoldCheck = Callable[[OutboxItem, float], Hold | None]


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
    """Counts of outbox rows (one message may carry several) and of messages."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    messages: int = 0
    held: int = 0  # waiting (inhibited, muted) or dropped by the hold stage
    resting: int = 0  # messages not tried: the receiver's circuit breaker is open
    paced: int = 0  # messages left due: a paced receiver had no token (or is throttled)
    folded: int = 0  # messages folded into a summary for want of tokens


def fold(notes: list[Notification]) -> Notification:
    """One summary message carrying the rows of ``notes`` (each remains a part, so its
    group's timer is flushed as if it had gone out alone)."""
    items = tuple(sorted((i for n in notes for i in n.items), key=lambda i: i.ts))
    first = notes[0]
    return Notification(first.receiver, f"{{}}/{{folded}}:{{{len(notes)} groups}}", {}, items,
                        first.language, parts=tuple(notes))


def _single(item: OutboxItem) -> tuple[str, dict[str, str], str | None]:
    note = Notification.single(item)
    return note.group_key, note.group_labels, None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, GroupNotifier],
        clock: Callable[[], float],
        policy: RetryPolicy | None = None,
        *,
        group_of: GroupOf | None = None,
        skip: frozenset[str] = frozenset(),
        on_result: OnResult | None = None,
        on_failed: OnFailed | None = None,
        hold: HoldCheck | None = None,
        breaker: BreakerPolicy | None = None,
        group_state: GroupState | None = None,
    ) -> None:
        """``skip``: receivers whose rows are not for sending (the routing stage's inbox);
        ``breaker``: None sends every message whatever the receiver's recent failures;
        ``group_state``: the group's other alerts still firing at the receiver, for channels
        with a true ``group_state`` attribute (the webhook)."""
        self.store = store
        self.notifiers = notifiers
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.group_of = group_of or _single
        self.skip = skip
        self.on_result = on_result
        self.on_failed = on_failed
        self.hold = hold
        self.breakers = {name: Breaker(name, breaker) for name in notifiers} if breaker else {}
        self.group_state = group_state
        self.buckets: dict[str, TokenBucket] = {}
        for name, notifier in notifiers.items():
            limit = getattr(notifier, "rate_limit", None)
            if isinstance(limit, RateLimit):
                self.buckets[name] = TokenBucket(limit, clock())
        # Set by the service while it stops: a pass then ends at the first failed message
        # instead of waiting out a hung receiver's timeout for each of its groups.
        self.stopping: Callable[[], bool] = lambda: False

    def groups(self, now: float, limit: int, receiver: str | None = None) -> list[Notification]:
        """The due rows, grouped per receiver and group key, in order of their oldest row."""
        groups: dict[tuple[str, str], tuple[dict[str, str], str | None, list[OutboxItem]]] = {}
        for item in self.store.due(now, limit=limit, receiver=receiver):
            if item.receiver in self.skip:
                continue
            key, labels, language = self.group_of(item)
            groups.setdefault((item.receiver, key), (labels, language, []))[2].append(item)
        return [
            Notification(receiver, key, labels, tuple(items), language)
            for (receiver, key), (labels, language, items) in groups.items()
        ]

    def run_once(self, now: float | None = None, *, limit: int = 100,
                 receiver: str | None = None) -> DeliveryStats:
        """Try each due message once (per alert and receiver strictly in order); only
        ``receiver``'s when given (its delivery worker)."""
        now = self.clock() if now is None else now
        stats = DeliveryStats()
        ready = [held for note in self.groups(now, limit, receiver)
                 if (held := self._hold(note, now, stats)).items]
        for held in self._pace(ready, now, stats):
            breaker = self.breakers.get(held.receiver)
            if breaker is not None and not breaker.allow(now):
                stats.resting += 1
                self._give_up_expired(held, now, stats)
                continue
            bucket = self.buckets.get(held.receiver)
            if bucket is not None and not bucket.take(now):  # throttled during this pass
                stats.paced += 1
                continue
            result = self._send(self._with_state(held, now))
            if breaker is not None:
                breaker.record(ok=result.ok, retryable=result.retryable, now=self.clock())
            if bucket is not None and result.retry_after_s is not None:
                bucket.block(now + result.retry_after_s, now)  # never send into a throttle
            stats.messages += 1
            self._record(held, result, now, stats)
            if self.on_result is not None:
                for part in held.parts or (held,):
                    self.on_result(part, result, now)
            if not result.ok and self.stopping():
                break
        return stats

    def _pace(self, notes: list[Notification], now: float,
              stats: DeliveryStats) -> list[Notification]:
        """Stage 2: a paced receiver (a robot with a quota, :mod:`alerts.notify.pacing`)
        sends only with tokens; what is due beyond them is folded into one summary message
        on the last token, and with no token at all it stays due (no attempt counted)."""
        out: list[Notification] = []
        by_receiver: dict[str, list[Notification]] = {}
        for note in notes:
            if note.receiver in self.buckets:
                by_receiver.setdefault(note.receiver, []).append(note)
            else:
                out.append(note)
        for name, due in by_receiver.items():
            tokens = self.buckets[name].available(now)
            if tokens == 0:
                stats.paced += len(due)
                continue
            if len(due) <= tokens:
                out += due
                continue
            rest = due[tokens - 1:]
            out += due[:tokens - 1]
            out.append(fold(rest))
            stats.folded += len(rest)
            log.info("%s: %d messages over the robot's quota folded into one", name, len(rest))
        return out

    def _with_state(self, note: Notification, now: float) -> Notification:
        notifier = self.notifiers.get(note.receiver)
        if self.group_state is None or not getattr(notifier, "group_state", False):
            return note
        return dataclasses.replace(note, firing=self.group_state(note, now))

    def _hold(self, note: Notification, now: float, stats: DeliveryStats) -> Notification:
        """Stage 1: the rows of ``note`` that may go out now."""
        if self.hold is None:
            return note
        keep: list[OutboxItem] = []
        for item in note.items:
            verdict = self.hold(item, now)
            if verdict is None:
                keep.append(item)
                continue
            stats.held += 1
            NOTIFICATIONS.labels(item.receiver, f"held_{verdict.action}").inc()
            if verdict.action == "wait":
                self.store.postpone(item.key, verdict.until, verdict.reason)
            else:
                self.store.mark_suppressed(item.key, verdict.reason)
        return dataclasses.replace(note, items=tuple(keep))

    def _send(self, note: Notification) -> SendResult:
        notifier = self.notifiers.get(note.receiver)
        if notifier is None:
            return SendResult(ok=False, detail=f"no receiver named {note.receiver!r}")
        return notifier.deliver(note)

    def _give_up_expired(self, note: Notification, now: float, stats: DeliveryStats) -> None:
        """Rows past the retry budget fail even while their receiver rests (someone must be
        told); the rest wait for the breaker."""
        for item in note.items:
            if now - item.ts >= self.policy.give_up_after_s:
                detail = f"circuit open; last error: {item.last_error or 'none'}"
                self.store.mark_failed(item.key, detail, attempted=False)
                stats.failed += 1
                NOTIFICATIONS.labels(item.receiver, "failed").inc()
                self._failed(item, detail, now)

    def _failed(self, item: OutboxItem, detail: str, now: float) -> None:
        log.error("%s: gave up on %s: %s", item.receiver, item.key, detail)
        if self.on_failed is not None:
            self.on_failed(item, detail, now)

    def _record(self, note: Notification, result: SendResult, now: float,
                stats: DeliveryStats) -> None:
        outcome = "sent"
        for item in note.items:
            if result.ok:
                self.store.mark_sent(item.key, now)
                stats.sent += 1
                LATENCY.labels(item.receiver).observe(max(self.clock() - item.ts, 0.0))
            elif result.retryable and now - item.ts < self.policy.give_up_after_s:
                delay = max(self.policy.backoff(item.attempts + 1), result.retry_after_s or 0.0)
                self.store.mark_retry(item.key, now + delay, result.detail)
                stats.retried += 1
                outcome = "retry"
            else:
                self.store.mark_failed(item.key, result.detail)
                stats.failed += 1
                outcome = "failed"
                self._failed(item, result.detail, now)
            NOTIFICATIONS.labels(item.receiver, outcome).inc()
        if result.ok:
            log.debug("%s: %s sent (%d alerts, %.3f s after the first event)", note.receiver,
                      note.group_key, len(note.items), self.clock() - note.items[0].ts)
        else:
            log.warning("%s: %s not delivered (%s): %s", note.receiver, note.group_key,
                        outcome, result.detail)
