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
   retry with backoff for retryable failures.

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
from collections.abc import Callable, Iterator, Mapping

from alerts.model import Alert, AlertState, EventKind
from alerts.notify.base import ESCALATED, GroupNotifier, Notification, Notifier, SendResult
from alerts.notify.dispatcher import DeliveryStats, Dispatcher, RetryPolicy
from alerts.routing import ROUTE_INBOX, GroupClock, RouteConfig, RouteTable
from alerts.store import Batch, OutboxItem, Store

__all__ = ["Pipeline"]


def _rid(index: int, route: RouteConfig) -> str:
    """A route's part of a timer key: its name (stable when routes are reordered), else its
    position."""
    return route.name or str(index)


def _chunks(keys: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(keys), size):
        yield keys[i:i + size]


class Pipeline:
    """All stages for one store; ``run_once(now)`` is one pass (the delivery thread loops)."""

    def __init__(
        self,
        store: Store,
        table: RouteTable,
        notifiers: Mapping[str, Notifier | GroupNotifier],
        clock: Callable[[], float],
        policy: RetryPolicy | None = None,
        *,
        escalation_check_s: float = 5.0,
    ) -> None:
        self.store = store
        self.table = table
        self.clock = clock
        self.groups = GroupClock()
        self.escalation_check_s = escalation_check_s
        self._next_escalation_check = float("-inf")
        self.dispatcher = Dispatcher(
            store, notifiers, clock, policy, group_of=self._group_of,
            skip=frozenset({ROUTE_INBOX}), on_result=self._on_result,
        )

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
                tail = intent.key.split("/", 1)[1]
                if intent.kind is EventKind.RESOLVED:
                    receivers = self.notified_receivers(intent.alert)
                else:
                    receivers = self.table.receivers_for(intent.alert)
                rows += self._rows(intent, {r: f"{r}/{tail}" for r in receivers})
            self.store.commit(Batch(outbox=rows))
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
        self.store.commit(Batch(outbox=rows))
        return len(rows)

    def notified_receivers(self, alert: Alert) -> list[str]:
        """Receivers holding a firing, severity or escalation row of this incident."""
        candidates: dict[str, str] = {}
        for receiver in self.table.receivers:
            for seq in range(1, alert.seq + 1):
                for kind in (EventKind.FIRING, EventKind.SEVERITY):
                    candidates[f"{receiver}/{alert.id}:{kind.value}:{seq}"] = receiver
            for i, route in enumerate(self.table.routes):
                candidates[f"{receiver}/{alert.id}:escalated:{_rid(i, route)}"] = receiver
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
            fired = alert.fired_at or alert.active_at
            for i, route in self.table.match(alert):
                if route.repeat_interval_s and now - fired >= route.repeat_interval_s:
                    n = int((now - fired) // route.repeat_interval_s)
                    tail = f"{alert.id}:repeat:{_rid(i, route)}.{n}"
                    source = OutboxItem(f"{ROUTE_INBOX}/{tail}", ROUTE_INBOX, EventKind.FIRING,
                                        fired + n * route.repeat_interval_s, alert)
                    added += self._enqueue(source, {r: f"{r}/{tail}" for r in route.receivers})
                esc = route.escalate
                if esc is None or now - fired < esc.after_s:
                    continue
                snap = dataclasses.replace(
                    alert, annotations={**alert.annotations, ESCALATED: f"{esc.after_s:g}"})
                tail = f"{alert.id}:escalated:{_rid(i, route)}"
                keys = {r: f"{r}/{tail}" for r in esc.receivers}
                source = OutboxItem(f"{ROUTE_INBOX}/{tail}", ROUTE_INBOX,
                                    EventKind.FIRING, fired + esc.after_s, snap)
                added += self._enqueue(source, keys)
        return added

    # -- stage 4: send ---------------------------------------------------------------------

    def _group_of(self, item: OutboxItem) -> tuple[str, dict[str, str], str | None]:
        group = self.table.group(item.alert, item.receiver)
        return group.key, group.labels, group.language

    def _on_result(self, note: Notification, result: SendResult, at: float) -> None:
        self.groups.flushed(note.receiver, note.group_key, at)

    def run_once(self, now: float | None = None) -> DeliveryStats:
        """One pass of every stage; loop while ``sent`` is non-zero to drain a backlog."""
        now = self.clock() if now is None else now
        self.route(now)
        self.escalate(now)
        return self.dispatcher.run_once(now)
