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
    "Alert",
    "AlertEvent",
    "AlertState",
    "EventKind",
    "Scope",
    "Severity",
    "Signal",
    "Track",
    "Verdict",
    "fingerprint",
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

    @property
    def key(self) -> str:
        """Idempotency key (alert id + event + sequence) shared by log, outbox and sinks."""
        return f"{self.alert.id}:{self.kind.value}:{self.seq}"
