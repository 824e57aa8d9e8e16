"""The notifier contract (Alertmanager ``notify.Notifier``): send one message, say if a
failure is worth retrying. Retrying, backoff and bookkeeping live in the dispatcher, so each
notifier stays a small translation from an alert to one receiver's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.store import OutboxItem

__all__ = ["Notifier", "SendResult"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one delivery attempt.

    ``retryable`` follows Alertmanager's rule of thumb: transport errors, 5xx and 429 may
    succeed later; any other 4xx means the request itself is wrong and retrying only repeats
    the failure (and hides it).
    """

    ok: bool
    retryable: bool = False
    detail: str = ""


class Notifier(Protocol):
    name: str

    def send(self, item: OutboxItem) -> SendResult:
        """Deliver one notification; never raises for delivery problems."""
        ...

    def close(self) -> None: ...
