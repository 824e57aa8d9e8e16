"""Which transitions become notifications: Alertmanager's inhibit, silence and repeat stages.

The decisions, in the order Alertmanager's pipeline makes them:

* inhibition: while a *source* alert fires, *target* alerts of the same station (or, for a
  global source such as ``pipeline_down``, of every station) are not notified;
* maintenance windows (silences): alerts of a covered station or zone are not notified;
* a held-back firing alert is notified as soon as neither applies any more (window over,
  inhibitor resolved) - like an expired silence in Alertmanager;
* resolved is sent for every alert whose firing was sent, whatever mutes or acks say, so no
  receiver is ever left with a stuck-open incident;
* still-firing, unacknowledged alerts are re-notified every ``repeat_interval_s``.

Everything is *recorded* regardless (events carry ``muted`` / ``inhibited`` flags).
Dedup is the outbox primary key: the idempotency key (:class:`~alerts.model.OutboxKey`).

Who gets what is the second half of this module (Alertmanager's route tree, flattened to a
list because a crew per zone needs no deeper nesting): :class:`RouteConfig` matchers on zone,
rule, rule family (``kinds``) and severity pick receivers, first match wins unless it says
``continue``; each route groups its alerts (by zone and rule by default) with ``group_wait`` /
``group_interval`` and may escalate unacknowledged alerts to more receivers. The pieces are
pure (no store, no clock): :class:`RouteTable` answers "which receivers, which group" and
:class:`GroupClock` "when does this group go out"; :mod:`alerts.notify.delivery` runs them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.config import InhibitRule
from alerts.model import (
    GLOBAL_SUBJECT,
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    OutboxKey,
    Scope,
    Severity,
    format_key,
)
from alerts.rows import Batch, EventRecord, GroupTimer, MaintenanceWindow, OutboxItem
from alerts.rules import FAMILIES

__all__ = [
    "PER_ALERT",
    "ROUTE_INBOX",
    "Escalation",
    "GroupClock",
    "RouteConfig",
    "RouteTable",
    "Router",
]

Lookup = Callable[[str, str], Alert | None]


class Router:
    def __init__(
        self,
        inhibit: tuple[InhibitRule, ...],
        receivers: tuple[str, ...],
        repeat_interval_s: float,
        lookup: Lookup,
    ) -> None:
        self.inhibit = inhibit
        self.receivers = receivers
        self.repeat_interval_s = repeat_interval_s
        self.windows: list[MaintenanceWindow] = []
        self._lookup = lookup

    def muted(self, alert: Alert, now: float) -> bool:
        return any(w.covers(alert.station, alert.zone, now) for w in self.windows)

    def inhibited(self, alert: Alert) -> bool:
        for rule in self.inhibit:
            if alert.rule not in rule.target:
                continue
            subject = alert.station if rule.same_station else GLOBAL_SUBJECT
            if subject is None:
                continue
            for source in rule.source:
                found = self._lookup(source, subject)
                if found is not None and found.state is AlertState.FIRING:
                    return True
        return False

    def prune_windows(self, now: float) -> None:
        self.windows = [w for w in self.windows if w.ends_at > now]

    def _enqueue(self, alert: Alert, kind: EventKind, seq: int, now: float, batch: Batch) -> None:
        for receiver in self.receivers:
            batch.outbox.append(
                OutboxItem(
                    key=format_key(OutboxKey(alert.id, kind.value, seq, receiver)),
                    receiver=receiver,
                    kind=kind,
                    ts=now,
                    alert=alert,
                    next_attempt_at=now,
                )
            )

    def on_event(self, event: AlertEvent, live: Alert, now: float, batch: Batch) -> None:
        """Log one transition and enqueue the notifications it calls for."""
        snap = event.alert
        muted = self.muted(snap, now)
        inhibited = self.inhibited(snap)
        batch.events.append(EventRecord(event, muted=muted, inhibited=inhibited))
        if event.kind is EventKind.FIRING and not (muted or inhibited):
            self._enqueue(snap, EventKind.FIRING, event.seq, now, batch)
            live.notified = True
            live.last_notified_at = now
        elif event.kind is EventKind.SEVERITY and live.notified and not (muted or inhibited):
            self._enqueue(snap, EventKind.SEVERITY, event.seq, now, batch)
            live.last_notified_at = now
        elif event.kind is EventKind.RESOLVED and live.notified:
            self._enqueue(snap, EventKind.RESOLVED, event.seq, now, batch)

    def tick(self, alert: Alert, now: float, batch: Batch) -> bool:
        """Release held-back firing notifications and send repeats; True if it enqueued."""
        if alert.state is not AlertState.FIRING:
            return False
        if self.muted(alert, now) or self.inhibited(alert):
            return False
        repeat_due = (
            self.repeat_interval_s > 0
            and alert.acked_by is None
            and alert.last_notified_at is not None
            and now - alert.last_notified_at >= self.repeat_interval_s
        )
        if alert.notified and not repeat_due:
            return False
        alert.seq += 1
        alert.notified = True
        alert.last_notified_at = now
        self._enqueue(_copy(alert), EventKind.FIRING, alert.seq, now, batch)
        return True


def _copy(alert: Alert) -> Alert:
    return dataclasses.replace(alert, annotations=dict(alert.annotations))


# -- routes ---------------------------------------------------------------------------------

# The engine enqueues every notifiable transition once, to this pseudo-receiver; the routing
# stage expands it into one row per real receiver (same idempotency tail, so never twice).
ROUTE_INBOX = "_route"
# ``group_by: ["..."]``: one group per alert (Alertmanager's spelling of "all labels").
PER_ALERT = "..."


class Escalation(BaseModel):
    """Unacknowledged this long after firing: also notify ``receivers`` (once per incident)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_s: float = Field(gt=0)
    receivers: list[str] = Field(min_length=1)


class RouteConfig(BaseModel):
    """One route: matchers (empty = any), receivers, grouping, escalation."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = ""
    zones: list[str] = []
    rules: list[str] = []
    kinds: list[str] = Field(default=[], description="rule families: outage, leak, ...")
    severities: list[Severity] = []
    receivers: list[str] = []
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] = ["zone", "alertname"]
    group_wait_s: float = Field(default=30.0, ge=0)
    group_interval_s: float = Field(default=300.0, ge=0)
    repeat_interval_s: float | None = Field(
        default=None, gt=0, description="re-send while firing and unacked; null: no repeat "
        "by this route (the rules file's repeat_interval_s still applies)")
    escalate: Escalation | None = None
    language: Literal["en", "zh"] | None = Field(
        default=None, description="message language for this route's crew (else the channel's)")

    @model_validator(mode="after")
    def _known(self) -> RouteConfig:
        families = set(FAMILIES.values())
        if unknown := set(self.kinds) - families:
            raise ValueError(f"unknown kinds {sorted(unknown)}; known: {sorted(families)}")
        if unknown := set(self.rules) - set(FAMILIES):
            raise ValueError(f"unknown rules {sorted(unknown)}")
        if not self.receivers and self.escalate is None:
            raise ValueError("a route needs receivers (or an escalation)")
        return self

    def matches(self, alert: Alert) -> bool:
        return (
            (not self.zones or (alert.zone or "") in self.zones)
            and (not self.rules or alert.rule in self.rules)
            and (not self.kinds or FAMILIES.get(alert.rule, "") in self.kinds)
            and (not self.severities or alert.severity in self.severities)
        )

    def group(self, alert: Alert) -> dict[str, str]:
        labels = alert.labels()
        if PER_ALERT in self.group_by:
            keep = {"alertname", "station"} if alert.station else {"alertname", "zone"}
            return {k: v for k, v in labels.items() if k in keep}
        return {k: v for k, v in labels.items() if k in self.group_by}


@dataclass(frozen=True, slots=True)
class Group:
    """Where a row goes: the route that owns it and its group."""

    route: int
    key: str
    labels: dict[str, str]
    wait_s: float
    interval_s: float
    language: str | None = None


class RouteTable:
    """The configured routes; without any, every receiver gets every alert at once, grouped
    by zone: what became due together (one evaluation pass: a zone-wide fault) is one message
    per zone instead of one per station - the chat robots take only 20 messages a minute. A
    station's flat alerts group per station and rule, as with ``group_by: ["..."]``."""

    def __init__(self, routes: Sequence[RouteConfig], receivers: Iterable[str]) -> None:
        self.receivers = tuple(receivers)
        default = (
            RouteConfig(name="default", receivers=list(self.receivers), group_by=["zone"],
                        group_wait_s=0, group_interval_s=0),
        ) if self.receivers else ()
        self.routes = tuple(routes) or default
        self._default = not routes
        named = set(self.receivers)
        for i, route in enumerate(self.routes):
            wanted = set(route.receivers) | set(route.escalate.receivers if route.escalate
                                                else ())
            if unknown := wanted - named:
                raise ValueError(f"route {route.name or i} names unknown receivers "
                                 f"{sorted(unknown)}; configured: {sorted(named)}")

    def match(self, alert: Alert) -> list[tuple[int, RouteConfig]]:
        """Matching routes in order; the first match ends the walk unless it continues."""
        out = []
        for i, route in enumerate(self.routes):
            if route.matches(alert):
                out.append((i, route))
                if not route.continue_:
                    break
        return out

    def receivers_for(self, alert: Alert) -> list[str]:
        seen: dict[str, None] = {}
        for _, route in self.match(alert):
            seen.update(dict.fromkeys(route.receivers))
        return list(seen)

    def group(self, alert: Alert, receiver: str) -> Group:
        """The group of ``alert`` at ``receiver``: that of the first matching route that names
        the receiver (directly or as escalation), else a group of one sent at once (a resolved
        for a receiver whose route was since removed from the config)."""
        for i, route in self.match(alert):
            esc = route.escalate.receivers if route.escalate else []
            if receiver in route.receivers or receiver in esc:
                labels = route.group(alert)
                if self._default and alert.scope is Scope.FLAT:
                    labels = {k: v for k, v in alert.labels().items()
                              if k in ("alertname", "station")}
                key = "{}/{" + (route.name or str(i)) + "}:{" + ", ".join(
                    f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                return Group(i, key, labels, route.group_wait_s, route.group_interval_s,
                             route.language)
        labels = RouteConfig(receivers=[receiver], group_by=[PER_ALERT]).group(alert)
        return Group(-1, f"{{}}/{{}}:{{{alert.id}}}", labels, 0.0, 0.0)


@dataclass(slots=True)
class _GroupState:
    next_flush: float | None = None
    last_flush: float | None = None


class GroupClock:
    """When a group's next message goes out (Alertmanager's aggregation group timers).

    A new group waits ``group_wait`` from its first alert so that the other stations of a
    zone-wide fault join the same message; later changes wait for the next ``group_interval``
    after the previous message. Persisted with the outbox (:class:`~alerts.store.GroupTimer`
    rows, written by the pipeline in the same transaction as the rows they schedule, see
    :meth:`changes`), so a restart neither re-sends a group change early (before the rest of
    its interval) nor forgets a scheduled flush. Thread-safe: the routing stage schedules
    while the receivers' delivery workers record flushes.
    """

    prune_above = 10000  # groups remembered before idle ones are forgotten
    idle_s = 86400.0

    def __init__(self, timers: Iterable[GroupTimer] = ()) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], _GroupState] = {
            (t.receiver, t.key): _GroupState(t.next_flush, t.last_flush) for t in timers
        }
        self._dirty: set[tuple[str, str]] = set()

    def schedule(self, receiver: str, group: Group, ts: float) -> float:
        """Send time for a row of ``group`` for an event at ``ts``."""
        with self._lock:
            state = self._groups.setdefault((receiver, group.key), _GroupState())
            if state.next_flush is not None:
                return state.next_flush  # join the message already scheduled
            at = ts + group.wait_s
            if state.last_flush is not None and ts < state.last_flush + group.interval_s:
                at = state.last_flush + group.interval_s
            state.next_flush = at
            self._dirty.add((receiver, group.key))
            return at

    def flushed(self, receiver: str, key: str, at: float) -> None:
        with self._lock:
            state = self._groups.setdefault((receiver, key), _GroupState())
            state.last_flush, state.next_flush = at, None
            self._dirty.add((receiver, key))
            if len(self._groups) > self.prune_above:
                self._prune(at - self.idle_s)

    def changes(self) -> list[GroupTimer]:
        """Timers changed since the last call, to be written (``Batch.groups``)."""
        with self._lock:
            out = [GroupTimer(r, k, s.next_flush, s.last_flush)
                   for (r, k), s in self._groups.items() if (r, k) in self._dirty]
            self._dirty.clear()
        return out

    def prune(self, before: float) -> None:
        """Forget groups idle since ``before`` (nothing scheduled): bounded memory."""
        with self._lock:
            self._prune(before)

    def _prune(self, before: float) -> None:
        self._groups = {
            k: v for k, v in self._groups.items()
            if v.next_flush is not None or (v.last_flush or 0.0) >= before
        }
