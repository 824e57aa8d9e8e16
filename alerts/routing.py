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
Dedup is the outbox primary key: the idempotency key ``receiver/alert id:event:sequence``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from alerts.config import InhibitRule
from alerts.model import GLOBAL_SUBJECT, Alert, AlertEvent, AlertState, EventKind
from alerts.store import Batch, EventRecord, MaintenanceWindow, OutboxItem

__all__ = ["Router"]

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
                    key=f"{receiver}/{alert.id}:{kind.value}:{seq}",
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
