"""The notifier contract (Alertmanager ``notify.Notifier``): send one message, say if a
failure is worth retrying. Retrying, backoff and bookkeeping live in the dispatcher, so each
notifier stays a small translation from alerts to one receiver's API.

A message carries a *group* of outbox rows (:class:`Notification`): the grouping stage puts
the alerts of one zone and rule that arrived within the group window into one message, so a
zone-wide fault is one page naming every station instead of a page per station. Every channel
answers with the same :class:`SendResult`; library errors are translated into it at the
channel's boundary, never raised into the dispatcher.

Optional attributes a channel may have, read by the delivery stages:

* ``group_state = True``: the dispatcher fills :attr:`Notification.firing` with the group's
  other alerts still firing at the receiver (the webhook: Alertmanager's group state);
* ``rate_limit: RateLimit``: the dispatcher paces the receiver to it and folds what is over
  it (the robots, :mod:`alerts.notify.pacing`);
* ``resend_s: float`` and ``refresh(alerts) -> SendResult``: the receiver's worker hands it
  every ``resend_s`` the alerts it holds firing, to renew their leases (Alertmanager).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from alerts.model import Alert, EventKind
from alerts.rows import OutboxItem

__all__ = ["ESCALATED", "GroupNotifier", "Notification", "SendResult"]

# Namespace of the message UUIDs (uuid5 of the message's row keys): any fixed value will do.
_MESSAGE_NS = uuid.UUID("5f0c6a52-9a3e-4d59-8d0e-3a8a1f1c2b7e")

# Annotation put on the alert snapshot of an escalation row (value: seconds unacknowledged).
ESCALATED = "escalated_after_s"


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one delivery attempt.

    ``retryable`` follows Alertmanager's rule of thumb: transport errors, 5xx, 429 and the
    robots' rate-limit codes may succeed later; anything else means the request itself is
    wrong (bad credentials, bad address) and retrying only repeats the failure and hides it.
    """

    ok: bool
    retryable: bool = False
    detail: str = ""
    # The receiver said when to come back (a robot's throttle, HTTP Retry-After): no retry,
    # and for a paced receiver no message at all, before this many seconds.
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver: the outbox rows of one group, oldest first."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    items: tuple[OutboxItem, ...]
    language: str | None = None  # the route's language, if it sets one (else the channel's)
    # The group's other alerts still firing at this receiver (sent before, still open), for
    # channels that carry a group's whole state as Alertmanager does (the webhook).
    firing: tuple[Alert, ...] = ()
    # A summary folded from several due messages (a paced robot out of tokens): the parts.
    parts: tuple[Notification, ...] = ()

    @classmethod
    def single(cls, item: OutboxItem) -> Notification:
        """A group of one (what a receiver gets without routes)."""
        alert = item.alert
        labels = {k: v for k, v in alert.labels().items() if k in ("alertname", "station",
                                                                     "zone")}
        if alert.station:
            labels.pop("zone", None)
        return cls(item.receiver, group_key(labels), labels, (item,))

    @property
    def status(self) -> str:
        """``firing`` while any alert in the message fires, else ``resolved``."""
        if any(i.kind is not EventKind.RESOLVED for i in self.items):
            return "firing"
        return "resolved"

    @property
    def alerts(self) -> list[Alert]:
        return [i.alert for i in self.items]

    @property
    def key(self) -> str:
        """Idempotency key of the message: its first row's key plus the row count."""
        return self.items[0].key if len(self.items) == 1 else (
            f"{self.items[0].key}+{len(self.items) - 1}"
        )

    @property
    def uuid(self) -> uuid.UUID:
        """A UUID naming exactly this message's rows: the same on every resend of them (a
        retry, or a restart after a kill between the receiver's answer and our commit), for
        channels that de-duplicate by an id of their own (DingTalk ``msgUuid``, the email
        ``Message-ID``)."""
        return uuid.uuid5(_MESSAGE_NS, "\n".join(i.key for i in self.items))


def group_key(labels: dict[str, str]) -> str:
    """Alertmanager's group key format, ``{}:{a="1", b="2"}``."""
    return "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class GroupNotifier(Protocol):
    """A channel: takes a whole group in one message."""

    name: str

    def deliver(self, note: Notification) -> SendResult:
        """Deliver one grouped message; never raises for delivery problems."""
        ...

    def close(self) -> None: ...
