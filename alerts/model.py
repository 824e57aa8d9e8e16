"""The alert data model, shared by rules, lifecycle, engine, store and notifiers.

Modelled on Prometheus ``rules/alerting.go``: an alert is an enum state plus the timestamps that
explain it (``active_at``, ``fired_at``, ``resolved_at``). Rules never touch alerts; they return a
:class:`Verdict` (a three-valued signal) and :mod:`alerts.lifecycle` turns verdicts into state, so
each half can be tested on its own with scripted inputs.

All times are float seconds on the engine's clock (event time in replay), never wall time read
here, so replaying a day of readings gives exactly the alerts the live service gave.
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "GLOBAL_SUBJECT",
    "TIMER_ESCALATED",
    "TIMER_REPEAT",
    "Alert",
    "AlertEvent",
    "AlertState",
    "EventKind",
    "OutboxKey",
    "Scope",
    "Severity",
    "Signal",
    "Track",
    "Verdict",
    "fingerprint",
    "format_key",
    "parse_key",
]

GLOBAL_SUBJECT = "pipeline"


class Signal(enum.StrEnum):
    """What a rule says about its subject right now.

    ``HOLD`` is the hysteresis band (between the trigger and the recovery threshold) and also
    "not enough data to say": it keeps whatever state the alert already has, so a missing field
    never resolves an alert and a value hovering at the threshold never flaps it.
    """

    FIRE = "fire"
    HOLD = "hold"
    CLEAR = "clear"


class AlertState(enum.StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Scope(enum.StrEnum):
    """What an alert is about: one station, one zone, or the engine's own input."""

    STATION = "station"
    FLAT = "flat"  # one flat (subject: its meter id; station: the flat's station)
    ZONE = "zone"
    GLOBAL = "global"


class EventKind(enum.StrEnum):
    """State changes written to the event log, InfluxDB and (some of them) notifiers."""

    PENDING = "pending"
    CANCELLED = "cancelled"  # pending that cleared before its hold time: never fired
    FIRING = "firing"
    SEVERITY = "severity"  # severity band changed while firing (13 °C band reached, ...)
    FLAPPING = "flapping"
    STABLE = "stable"  # flapping ended
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"  # an operator took the ack back: repeats start again


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's opinion of one subject at one instant (pure data, no state)."""

    signal: Signal
    severity: Severity | None = None
    value: float | None = None
    summary: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def clear(cls) -> Verdict:
        return _CLEAR

    @classmethod
    def hold(cls) -> Verdict:
        return _HOLD


_CLEAR = Verdict(Signal.CLEAR)
_HOLD = Verdict(Signal.HOLD)


def fingerprint(rule: str, subject: str) -> str:
    """Stable 16-hex id of an alert's identity, like Alertmanager's label fingerprint."""
    return hashlib.sha256(f"{rule}\x00{subject}".encode()).hexdigest()[:16]


@dataclass(slots=True)
class Alert:
    """One incident of one (rule, subject): created pending, ends resolved, never reused."""

    id: str
    rule: str
    subject: str
    scope: Scope
    station: str | None
    zone: str | None
    state: AlertState
    severity: Severity
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_since: float | None = None  # condition cleared while firing; keep_firing_for runs
    flapping: bool = False
    value: float | None = None
    summary: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    seq: int = 0  # per-alert event counter: part of every idempotency key
    notified: bool = False  # a firing notification was enqueued, so resolved must follow
    last_notified_at: float | None = None
    acked_by: str | None = None
    ack_comment: str | None = None
    acked_at: float | None = None
    assignee: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.subject)

    @property
    def is_open(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def labels(self) -> dict[str, str]:
        labels = {"alertname": self.rule, "severity": self.severity.value}
        if self.station:
            labels["station"] = self.station
        if self.scope is Scope.FLAT:
            labels["flat"] = self.subject  # else Alertmanager merges a station's flats
        if self.zone:
            labels["zone"] = self.zone
        return labels


@dataclass(slots=True)
class Track:
    """Lifecycle memory of one (rule, subject): the open alert plus recent signal flips.

    Flips outlive a single alert on purpose: flapping shows as fire/resolve/fire of *successive*
    incidents, so the history must survive the resolve that ends one of them.
    """

    rule: str
    subject: str
    signal: Signal = Signal.CLEAR
    alert: Alert | None = None
    verdict: Verdict | None = None  # last verdict, replayed when time alone moves the state
    flips: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    # Reading times (the station's clock) behind the verdicts of a station rule: the newest
    # one stepped, and the one the open alert's condition was first seen in. None: the rule
    # is not judged on readings (offline, zones), or the alert was restored after a restart.
    data_ts: float | None = None
    data_since: float | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A state transition of an alert, as the engine reports and the store records it."""

    kind: EventKind
    ts: float
    alert: Alert
    seq: int

    def outbox_key(self, receiver: str | None = None) -> OutboxKey:
        """This transition's key, for ``receiver``'s outbox row (None: the event log's)."""
        return OutboxKey(self.alert.id, self.kind.value, self.seq, receiver)

    @property
    def key(self) -> str:
        """Idempotency key (alert id + event + sequence) shared by log, outbox and sinks."""
        return format_key(self.outbox_key())


# The timer stages' rows (alerts.notify.delivery): once per incident and route, not per event.
TIMER_ESCALATED = "escalated"
TIMER_REPEAT = "repeat"
_TIMERS = frozenset({TIMER_ESCALATED, TIMER_REPEAT})
_KINDS = frozenset(k.value for k in EventKind)


@dataclass(frozen=True, slots=True)
class OutboxKey:
    """The idempotency key of a notification (an outbox row) or of a logged transition.

    As text (:func:`format_key`, :func:`parse_key`): ``receiver/alert_id:event:step``, the
    ``receiver/`` part absent in the event log. Enqueueing a key twice is a no-op, so every
    stage that may re-run after a crash (the engine's commit, routing, the timer stages)
    builds the same key for the same notification. ``event`` is an :class:`EventKind` value
    with ``step`` the alert's event sequence number, or a timer stage (:data:`TIMER_ESCALATED`,
    :data:`TIMER_REPEAT`) with ``step`` the route (and, for a repeat, ``.n``: the n-th interval).
    """

    alert_id: str
    event: str
    step: int | str
    receiver: str | None = None

    def to(self, receiver: str) -> OutboxKey:
        """The same notification for another receiver (routing fans one row out)."""
        return OutboxKey(self.alert_id, self.event, self.step, receiver)

    @property
    def seq(self) -> int:
        """The event sequence number of a transition's key."""
        if not isinstance(self.step, int):
            raise ValueError(f"{format_key(self)!r} is a timer key, not a transition's")
        return self.step


def format_key(key: OutboxKey) -> str:
    head = "" if key.receiver is None else f"{key.receiver}/"
    return f"{head}{key.alert_id}:{key.event}:{key.step}"


def parse_key(text: str, *, receiver: bool = True) -> OutboxKey:
    """The key ``text`` spells (:func:`format_key` backwards); ``receiver``: ``text`` is an
    outbox row's (``receiver/...``), not the event log's.

    A timer's key is read from the left (a route's name may hold anything): its alert is one
    of the engine's, whose id holds neither ``:`` nor ``/``. A transition's is read from the
    right: the id of a ``notification_failed`` alert holds the key of the row it is about.
    """
    who: str | None = None
    rest = text
    if receiver:
        who, slash, rest = text.partition("/")
        if not slash:
            raise ValueError(f"outbox key {text!r} has no receiver")
    alert_id, _, tail = rest.partition(":")
    event, colon, step = tail.partition(":")
    if event in _TIMERS and colon and "/" not in alert_id:
        return OutboxKey(alert_id, event, step, who)
    parts = rest.rsplit(":", 2)
    if len(parts) == 3 and parts[1] in _KINDS and parts[2].isdigit():
        return OutboxKey(parts[0], parts[1], int(parts[2]), who)
    raise ValueError(f"not an outbox key: {text!r}")
