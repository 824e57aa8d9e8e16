"""The notification pipeline: route -> group -> dedup -> send with retry, over the outbox.

Why stages over one SQLite outbox: each stage is small and testable alone with an injected
clock, and every hand-over is a row with an idempotency key, so a crash anywhere leaves
either the row or nothing - a restart re-runs the stage and the key drops the duplicate.

1. **route** - the engine enqueued each notifiable transition once, to the pseudo-receiver
   ``_route`` (same transaction as the transition). This stage expands it into one row per
   receiver the routes pick (``receiver/alert:event:seq``); a resolved goes to every receiver
   that had the firing (or an escalation), whatever the routes say now.
2. **group** - each new row gets its group's send time (:class:`~alerts.routing.GroupClock`):
   the stations of one zone that fire within ``group_wait`` share one message.
3. **dedup** - keys already in the outbox are skipped (:meth:`Store.keys`) and the insert
   ignores conflicts, so re-running a stage never sends twice.
4. **send** - :class:`~alerts.notify.dispatcher.Dispatcher`: one message per due group,
   retry with backoff for retryable failures. Before each send the **hold** check
   (:meth:`Pipeline.hold`) re-checks inhibition and maintenance windows on the alert's state
   *now*: a row queued during ``group_wait``, a repeat or an escalation of an alert that has
   since become inhibited waits, and is dropped if the alert resolves meanwhile (its resolved
   too: the receiver never heard of it).
5. **give up** - a row still unsent after the retry budget (or refused for good) raises a
   ``notification_failed`` alert to ``fallback_receiver``: logged as an event (InfluxDB
   ``alert_events``, so Grafana shows it) and sent like any page, so a dead channel is never
   silent.

**Escalation** is a timer stage: a firing alert that was notified and is still not
acknowledged ``after_s`` after it fired is enqueued once more for the route's escalation
receivers (key ``receiver/alert:escalated:<route name or position>``: once per incident,
also after restarts). Skipped while a maintenance window covers the alert.

Repeats of unacknowledged alerts: a route's own ``repeat_interval_s`` is the same timer stage
(key ``receiver/alert:repeat:<route>.<n>``, the n-th interval since firing: once each, also
after restarts). The engine's global repeat (``repeat_interval_s`` of the rules file) still
comes as new firing transitions and is routed like any other; set it to 0 when routes repeat.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from alerts.config import InhibitRule
from alerts.model import (
    TIMER_ESCALATED,
    TIMER_REPEAT,
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    OutboxKey,
    Scope,
    Severity,
    format_key,
    parse_key,
)
from alerts.notify.base import ESCALATED, GroupNotifier, Notification, SendResult
from alerts.notify.breaker import BreakerPolicy
from alerts.notify.dispatcher import DeliveryStats, Dispatcher, Hold, RetryPolicy
from alerts.routing import ROUTE_INBOX, GroupClock, RouteConfig, Router, RouteTable
from alerts.rows import Batch, EventRecord, MaintenanceWindow, OutboxItem
from alerts.store import Store

__all__ = ["NOTIFICATION_FAILED", "Pipeline", "failure_alert"]

log = logging.getLogger(__name__)

# Rule name of the alert raised when a page is given up.
NOTIFICATION_FAILED = "notification_failed"


def _rid(index: int, route: RouteConfig) -> str:
    """A route's part of a timer key: its name (stable when routes are reordered), else its
    position."""
    return route.name or str(index)


def failure_alert(item: OutboxItem, detail: str, now: float) -> Alert:
    """The ``notification_failed`` alert for a row given up: one per row (its key in the
    id), global scope, subject the receiver that could not be reached."""
    failed = item.alert
    return Alert(
        f"{NOTIFICATION_FAILED}-{item.key}", NOTIFICATION_FAILED, item.receiver, Scope.GLOBAL,
        None, None, AlertState.FIRING, Severity.CRITICAL, now, fired_at=now,
        summary=f"page not delivered to {item.receiver}: {failed.summary or failed.id}",
        annotations={"receiver": item.receiver, "failed_alert_id": failed.id,
                     "failed_rule": failed.rule, "failed_station": failed.station or "",
                     "failed_event": item.kind.value, "error": detail[:300]},
        seq=1, notified=True, last_notified_at=now,
    )


def _fan_out(key: OutboxKey, receivers: Iterable[str]) -> dict[str, str]:
    """Receiver -> the key of ``key``'s notification to it."""
    return {r: format_key(key.to(r)) for r in receivers}


def _chunks(keys: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


class Pipeline:
    """All stages for one store; ``run_once(now)`` is one pass (the delivery thread loops)."""

    def __init__(
        self,
        store: Store,
        table: RouteTable,
        notifiers: Mapping[str, GroupNotifier],
        clock: Callable[[], float],
        policy: RetryPolicy | None = None,
        *,
        escalation_check_s: float = 5.0,
        inhibit: tuple[InhibitRule, ...] = (),
        fallback_receiver: str | None = None,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        """``inhibit``: the rules file's inhibit rules (re-checked before every send);
        ``fallback_receiver``: who hears of pages given up (None: only the log)."""
        self.store = store
        self.table = table
        self.clock = clock
        self.groups = GroupClock(store.group_timers())
        self.escalation_check_s = escalation_check_s
        self.fallback_receiver = fallback_receiver
        self._next_escalation_check = float("-inf")
        self._inhibit = Router(inhibit, (), 0.0, store.open_alert)
        self._windows: tuple[float, list[MaintenanceWindow]] | None = None
        self.dispatcher = Dispatcher(
            store, notifiers, clock, policy, group_of=self._group_of,
            skip=frozenset({ROUTE_INBOX}), on_result=self._on_result,
            on_failed=self._on_failed, hold=self.hold, breaker=breaker,
            group_state=self.group_state,
        )
        self._open: tuple[float, list[Alert]] | None = None  # open alerts, one read per pass
        self._next_refresh: dict[str, float] = {}

    # -- stage 1-3: route, group, dedup ----------------------------------------------------

    def route(self, now: float) -> int:
        """Expand due engine rows into receiver rows; returns how many rows were added.

        The rows of a batch of engine rows are committed together, then each engine row is
        marked done: a crash in between re-routes them, and the keys drop the duplicates.
        """
        added = 0
        while True:
            intents = [i for i in self.store.due(now, limit=500) if i.receiver == ROUTE_INBOX]
            if not intents:
                return added
            rows: list[OutboxItem] = []
            for intent in intents:
                key = parse_key(intent.key)
                if intent.kind is EventKind.RESOLVED:
                    receivers = self.notified_receivers(intent.alert)
                else:
                    receivers = self.table.receivers_for(intent.alert)
                rows += self._rows(intent, _fan_out(key, receivers))
            self.store.commit(Batch(outbox=rows, groups=self.groups.changes()))
            added += len(rows)
            for intent in intents:
                self.store.mark_sent(intent.key, now)

    def _rows(self, source: OutboxItem, keys: dict[str, str]) -> list[OutboxItem]:
        """Receiver rows for ``source`` not yet in the outbox, each at its group's time."""
        existing = self.store.keys(keys.values())
        return [
            OutboxItem(key, receiver, source.kind, source.ts, source.alert,
                       next_attempt_at=self.groups.schedule(
                           receiver, self.table.group(source.alert, receiver), source.ts))
            for receiver, key in keys.items() if key not in existing
        ]

    def _enqueue(self, source: OutboxItem, keys: dict[str, str]) -> int:
        rows = self._rows(source, keys)
        self.store.commit(Batch(outbox=rows, groups=self.groups.changes()))
        return len(rows)

    def notified_receivers(self, alert: Alert) -> list[str]:
        """Receivers holding a firing, severity or escalation row of this incident."""
        candidates: dict[str, str] = {}
        for receiver in self.table.receivers:
            for seq in range(1, alert.seq + 1):
                for kind in (EventKind.FIRING, EventKind.SEVERITY):
                    key = OutboxKey(alert.id, kind.value, seq, receiver)
                    candidates[format_key(key)] = receiver
            for i, route in enumerate(self.table.routes):
                key = OutboxKey(alert.id, TIMER_ESCALATED, _rid(i, route), receiver)
                candidates[format_key(key)] = receiver
        found: set[str] = set()
        for chunk in _chunks(list(candidates)):
            found |= {candidates[k] for k in self.store.keys(chunk)}
        return [r for r in self.table.receivers if r in found]

    # -- escalation and per-route repeats (timer stage) -------------------------------------

    def escalate(self, now: float) -> int:
        """Enqueue the escalations and route repeats that are due; returns rows added."""
        timed = any(r.escalate or r.repeat_interval_s for r in self.table.routes)
        if not timed or now < self._next_escalation_check:
            return 0
        self._next_escalation_check = now + self.escalation_check_s
        added = 0
        windows = self.store.windows(not_ended_at=now)
        for alert, _signal in self.store.open_alerts():
            if alert.state is not AlertState.FIRING or not alert.notified or alert.acked_by:
                continue
            if any(w.covers(alert.station, alert.zone, now) for w in windows):
                continue  # in maintenance: the crew knows; like the engine's repeats
            if self._inhibit.inhibited(alert):
                continue  # its cause is paged already; like the engine's repeats
            fired = alert.fired_at or alert.active_at
            for i, route in self.table.match(alert):
                if route.repeat_interval_s and now - fired >= route.repeat_interval_s:
                    n = int((now - fired) // route.repeat_interval_s)
                    key = OutboxKey(alert.id, TIMER_REPEAT, f"{_rid(i, route)}.{n}")
                    source = OutboxItem(format_key(key.to(ROUTE_INBOX)), ROUTE_INBOX,
                                        EventKind.FIRING, fired + n * route.repeat_interval_s,
                                        alert)
                    added += self._enqueue(source, _fan_out(key, route.receivers))
                esc = route.escalate
                if esc is None or now - fired < esc.after_s:
                    continue
                snap = dataclasses.replace(
                    alert, annotations={**alert.annotations, ESCALATED: f"{esc.after_s:g}"})
                key = OutboxKey(alert.id, TIMER_ESCALATED, _rid(i, route))
                source = OutboxItem(format_key(key.to(ROUTE_INBOX)), ROUTE_INBOX,
                                    EventKind.FIRING, fired + esc.after_s, snap)
                added += self._enqueue(source, _fan_out(key, esc.receivers))
        return added

    # -- stage 4: send ---------------------------------------------------------------------

    def _group_of(self, item: OutboxItem) -> tuple[str, dict[str, str], str | None]:
        group = self.table.group(item.alert, item.receiver)
        return group.key, group.labels, group.language

    def _firing(self, now: float) -> list[Alert]:
        if self._open is None or self._open[0] != now:
            self._open = (now, [a for a, _ in self.store.open_alerts()
                                if a.state is AlertState.FIRING])
        return self._open[1]

    def firing_at(self, receiver: str, now: float) -> list[Alert]:
        """The alerts firing now that ``receiver`` was sent (what it holds as firing)."""
        return [a for a in self._firing(now) if self.store.was_sent(receiver, a.id)]

    def group_state(self, note: Notification, now: float) -> tuple[Alert, ...]:
        """The other alerts of ``note``'s group still firing at its receiver: what an
        Alertmanager aggregation group would still hold (the webhook sends them along)."""
        listed = {i.alert.id for i in note.items}
        keys = {note.group_key} | {p.group_key for p in note.parts}
        return tuple(
            a for a in self._firing(now)
            if a.id not in listed
            and self.table.group(a, note.receiver).key in keys
            and self.store.was_sent(note.receiver, a.id))

    def refresh(self, receiver: str, now: float) -> SendResult | None:
        """Renew the leases of a receiver that keeps firing alerts on a lease (Alertmanager:
        ``resend_s``); None when it has none or it is not time yet."""
        notifier = self.dispatcher.notifiers.get(receiver)
        refresh = getattr(notifier, "refresh", None)
        resend_s = getattr(notifier, "resend_s", None)
        if refresh is None or not isinstance(resend_s, float):
            return None
        if now < self._next_refresh.get(receiver, float("-inf")):
            return None
        self._next_refresh[receiver] = now + resend_s
        result: SendResult = refresh(self.firing_at(receiver, now))
        if not result.ok:
            log.warning("%s: firing alerts not re-pushed (%s)", receiver, result.detail)
        return result

    def _on_result(self, note: Notification, result: SendResult, at: float) -> None:
        self.groups.flushed(note.receiver, note.group_key, at)
        self.store.commit(Batch(groups=self.groups.changes()))

    # -- hold (before every send) and give-up ----------------------------------------------

    def _muted(self, alert: Alert, now: float) -> bool:
        if self._windows is None or self._windows[0] != now:  # one query per pass
            self._windows = (now, self.store.windows(not_ended_at=now))
        return any(w.covers(alert.station, alert.zone, now) for w in self._windows[1])

    def hold(self, item: OutboxItem, now: float) -> Hold | None:
        """Should ``item`` wait (its alert is inhibited or muted now) or never go out?"""
        if item.alert.rule == NOTIFICATION_FAILED:
            return None
        if item.kind is EventKind.RESOLVED:
            if self.store.was_sent(item.receiver, item.alert.id):
                return None
            return Hold("drop", "resolved of an alert this receiver was never sent")
        live = self.store.alert(item.alert.id)
        current = live or item.alert
        if self._inhibit.inhibited(current):
            reason = "inhibited"
        elif self._muted(current, now):
            reason = "in a maintenance window"
        else:
            return None
        if live is not None and live.is_open:
            return Hold("wait", reason, now + self.escalation_check_s)
        return Hold("drop", f"{reason} until it resolved")

    def _on_failed(self, item: OutboxItem, detail: str, now: float) -> None:
        """Raise ``notification_failed`` to the fallback receiver (never for its own pages:
        a fallback that fails too has only the log and the metric left)."""
        fallback = self.fallback_receiver
        if fallback is None or fallback == item.receiver or item.alert.rule == NOTIFICATION_FAILED:
            log.error("%s: page %s given up and no fallback receiver to tell", item.receiver,
                      item.key)
            return
        alert = failure_alert(item, detail, now)
        event = AlertEvent(EventKind.FIRING, now, alert, 1)
        row = OutboxItem(format_key(event.outbox_key(fallback)), fallback, EventKind.FIRING,
                         now, alert, next_attempt_at=now)
        self.store.commit(Batch(events=[EventRecord(event)], outbox=[row]))

    def run_once(self, now: float | None = None) -> DeliveryStats:
        """One pass of every stage; loop while ``sent`` is non-zero to drain a backlog.
        (The service runs the same stages in separate threads: :mod:`alerts.notify.workers`.)
        """
        now = self.clock() if now is None else now
        self.route(now)
        self.escalate(now)
        return self.dispatcher.run_once(now)
