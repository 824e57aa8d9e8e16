"""The rows of the alert state: what the engine, the notification stages and the API hand
each other, and what :class:`alerts.store.Store` reads and writes.

Plain data, no SQLite: a notifier needs an :class:`OutboxItem`, not the database it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.model import Alert, AlertEvent, AlertState, EventKind, Scope, Signal

__all__ = [
    "AlertFilter",
    "Batch",
    "EventRecord",
    "GroupTimer",
    "MaintenanceWindow",
    "OutboxItem",
]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as logged: the transition plus whether its notification was held back."""

    event: AlertEvent
    muted: bool = False
    inhibited: bool = False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One notification to one receiver; ``key`` makes enqueueing it twice a no-op."""

    key: str
    receiver: str
    kind: EventKind
    ts: float
    alert: Alert
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class GroupTimer:
    """A message group's timers (Alertmanager's aggregation group): kept with the outbox so a
    restart neither sends a group early nor forgets when its last message went out."""

    receiver: str
    key: str
    next_flush: float | None = None
    last_flush: float | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Time-bound mute for a station or a zone; alerts are still recorded, just not sent."""

    id: int
    scope: Scope
    target: str
    starts_at: float
    ends_at: float
    reason: str = ""
    created_by: str = ""

    def covers(self, station: str | None, zone: str | None, now: float) -> bool:
        if not self.starts_at <= now < self.ends_at:
            return False
        if self.scope is Scope.STATION:
            return station == self.target
        return zone == self.target


@dataclass(slots=True)
class Batch:
    """Everything one evaluation changed, committed atomically by :meth:`Store.commit`."""

    alerts: dict[str, tuple[Alert, Signal]] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)
    keep_acks: bool = False  # True: ack fields already in the row win (engine evaluations)
    groups: list[GroupTimer] = field(default_factory=list)  # written with the outbox rows

    def __bool__(self) -> bool:
        return bool(self.alerts or self.events or self.outbox or self.groups)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts :meth:`alerts.store.Store.search` returns (the API's alert list)."""

    states: tuple[AlertState, ...] = ()
    rules: tuple[str, ...] = ()
    zone: str | None = None
    station: str | None = None
    since: float | None = None  # alerts still open at or after this time
    until: float | None = None  # alerts that became active before this time
    acked: bool | None = None
    limit: int = 100
    offset: int = 0
