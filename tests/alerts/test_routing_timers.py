"""Group timers survive a restart, and inhibition is re-checked before every send (issue #13,
item 12). Alerts are put in the store directly (as the engine commits them) so these tests
pin the routing stages only; the channel is a recording fake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from alert_helpers import T0
from notify_recorder import alert, resolved
from test_routing import Recorder

from alerts.config import DEFAULT_INHIBIT
from alerts.model import Alert, EventKind, Signal
from alerts.notify.delivery import Pipeline
from alerts.routing import ROUTE_INBOX, Escalation, RouteConfig, RouteTable
from alerts.rows import Batch, OutboxItem
from alerts.store import Store


def commit(store: Store, a: Alert, kind: EventKind | None = None, *, seq: int = 1) -> None:
    """The alert row as the engine writes it, plus its routing-inbox row when ``kind``."""
    outbox = [] if kind is None else [
        OutboxItem(f"{ROUTE_INBOX}/{a.id}:{kind.value}:{seq}", ROUTE_INBOX, kind,
                   a.resolved_at or a.fired_at or a.active_at, a,
                   next_attempt_at=a.resolved_at or a.fired_at or a.active_at)]
    signal = Signal.CLEAR if a.resolved_at else Signal.FIRE
    store.commit(Batch(alerts={a.id: (a, signal)}, outbox=outbox))


def pipeline(store: Store, routes: list[RouteConfig], names: list[str],
             now: list[float]) -> tuple[Pipeline, dict[str, Recorder]]:
    rec = {n: Recorder(n) for n in names}
    return Pipeline(store, RouteTable(routes, names), rec, lambda: now[0],
                    escalation_check_s=0, inhibit=DEFAULT_INHIBIT), rec


def test_group_interval_survives_a_restart(tmp_path: Path) -> None:
    routes = [RouteConfig(receivers=["ops"], group_by=["zone"], group_wait_s=1,
                          group_interval_s=100)]
    now = [T0]
    store = Store(tmp_path / "a.db")
    p1, rec1 = pipeline(store, routes, ["ops"], now)
    commit(store, alert("power_loss", "S-1", ts=T0), EventKind.FIRING)
    p1.run_once(T0)
    p1.run_once(T0 + 1)
    assert rec1["ops"].stations() == [["S-1"]]
    # a scheduled flush is kept too: S-2 joins the group's next message at T0 + 101
    commit(store, alert("power_loss", "S-2", ts=T0 + 10), EventKind.FIRING)
    p1.run_once(T0 + 10)
    store.close()

    store = Store(tmp_path / "a.db")  # restart: new store connection, new pipeline
    p2, rec2 = pipeline(store, routes, ["ops"], now)
    commit(store, alert("power_loss", "S-3", ts=T0 + 20), EventKind.FIRING)
    p2.run_once(T0 + 20)
    rows = {r.alert.station: r.next_attempt_at for r in store.outbox() if r.receiver == "ops"}
    assert rows == {"S-1": T0 + 1, "S-2": T0 + 101, "S-3": T0 + 101}
    for t in (T0 + 21, T0 + 100):
        p2.run_once(t)
    assert rec2["ops"].got == []  # not before the rest of the interval
    p2.run_once(T0 + 101)
    assert rec2["ops"].stations() == [["S-2", "S-3"]]
    store.close()


GROUPED = [RouteConfig(receivers=["ops"], group_by=["..."], group_wait_s=5)]


def test_a_row_waiting_in_its_group_is_held_while_inhibited(store: Store) -> None:
    now = [T0]
    p, rec = pipeline(store, GROUPED, ["ops"], now)
    target = alert("pressure_drop", "S-1", ts=T0)
    commit(store, target, EventKind.FIRING)
    p.run_once(T0)  # scheduled for T0 + 5
    pump = alert("pump_stopped", "S-1", ts=T0 + 2)
    commit(store, pump)  # its cause starts firing during group_wait
    p.run_once(T0 + 5)
    assert rec["ops"].got == []
    (row,) = [r for r in store.outbox() if r.receiver == "ops"]
    assert row.status == "pending" and row.last_error == "inhibited" and row.attempts == 0
    commit(store, resolved(pump, T0 + 20))
    p.run_once(T0 + 25)
    assert [n.items[0].alert.rule for n in rec["ops"].got] == ["pressure_drop"]


def test_an_alert_inhibited_until_it_resolves_is_never_sent(store: Store) -> None:
    now = [T0]
    p, rec = pipeline(store, GROUPED, ["ops"], now)
    target = alert("pressure_drop", "S-1", ts=T0)
    commit(store, target, EventKind.FIRING)
    p.run_once(T0)
    commit(store, alert("pump_stopped", "S-1", ts=T0 + 2))
    p.run_once(T0 + 5)
    done = dataclasses.replace(resolved(target, T0 + 8), seq=2)
    commit(store, done, EventKind.RESOLVED, seq=2)
    for t in range(9, 40):
        p.run_once(T0 + t)
    assert rec["ops"].got == []
    assert {r.status for r in store.outbox() if r.receiver == "ops"} == {"suppressed"}


def test_repeats_and_escalations_are_not_sent_while_inhibited(store: Store) -> None:
    routes = [RouteConfig(name="r", receivers=["ops"], group_by=["..."], group_wait_s=0,
                          repeat_interval_s=60,
                          escalate=Escalation(after_s=90, receivers=["boss"]))]
    now = [T0]
    p, rec = pipeline(store, routes, ["ops", "boss"], now)
    target = dataclasses.replace(alert("pressure_drop", "S-1", ts=T0), notified=True)
    commit(store, target, EventKind.FIRING)
    p.run_once(T0)
    assert len(rec["ops"].got) == 1
    commit(store, alert("pump_stopped", "S-1", ts=T0 + 30))
    for t in range(31, 200, 5):
        p.run_once(T0 + t)
    assert len(rec["ops"].got) == 1 and rec["boss"].got == []


def test_a_repeat_queued_before_the_inhibition_is_held(store: Store) -> None:
    routes = [RouteConfig(name="r", receivers=["ops"], group_by=["..."], group_wait_s=0,
                          group_interval_s=30, repeat_interval_s=60)]
    now = [T0]
    p, rec = pipeline(store, routes, ["ops"], now)
    target = dataclasses.replace(alert("pressure_drop", "S-1", ts=T0), notified=True)
    commit(store, target, EventKind.FIRING)
    p.run_once(T0)
    assert p.escalate(T0 + 61) == 1  # repeat 1 enqueued, due now
    commit(store, alert("pump_stopped", "S-1", ts=T0 + 61))  # before it goes out
    p.dispatcher.run_once(T0 + 61)
    assert len(rec["ops"].got) == 1
    commit(store, resolved(alert("pump_stopped", "S-1", ts=T0 + 61), T0 + 70))
    p.dispatcher.run_once(T0 + 70)
    assert len(rec["ops"].got) == 2  # still firing, no longer inhibited: the repeat goes
