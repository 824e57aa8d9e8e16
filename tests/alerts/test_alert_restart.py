"""Restart mid-incident: reopen the SQLite store, lose no alert, repeat no notification."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from alert_helpers import T0, Clock, healthy, quiet_rules

from alerts.engine import Engine
from alerts.model import AlertState, EventKind, Signal
from alerts.notify.base import Notification, SendResult
from alerts.notify.dispatcher import Dispatcher
from alerts.rows import Batch
from alerts.store import Store


class Recorder:
    """A receiver that remembers what it got (pure unit test: no network needed here)."""

    name = "webhook"

    def __init__(self) -> None:
        self.got: list[str] = []

    def deliver(self, note: Notification) -> SendResult:
        self.got += [item.key for item in note.items]
        return SendResult(ok=True)

    def close(self) -> None:
        pass


def start(path: Path, clock: Clock) -> tuple[Store, Engine, Dispatcher, Recorder]:
    store = Store(path)
    engine = Engine(quiet_rules(), store, clock)
    recorder = Recorder()
    return store, engine, Dispatcher(store, {"webhook": recorder}, clock), recorder


def test_restart_mid_incident_no_loss_no_duplicate(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "state.db"
    store, engine, dispatcher, first = start(path, clock)
    engine.observe(healthy("s1", T0, power_ok=False))
    engine.evaluate(T0)
    dispatcher.run_once(T0)  # s1 firing delivered
    engine.observe(healthy("s2", T0 + 10, power_ok=False))
    engine.evaluate(T0 + 10)  # s2 firing enqueued, not yet delivered: then the crash
    store.close()

    store, engine, dispatcher, second = start(path, clock)
    assert sorted(a.station or "" for a in engine.open_alerts()) == ["s1", "s2"]
    # the same condition continues after the restart: no new incident, no new firing
    engine.observe(healthy("s1", T0 + 20, power_ok=False))
    engine.observe(healthy("s2", T0 + 20, power_ok=False))
    assert engine.evaluate(T0 + 20) == []
    dispatcher.run_once(T0 + 20)
    assert len(first.got) == 1 and len(second.got) == 1  # s2's firing, exactly once
    assert first.got[0] != second.got[0]

    # resolution after the restart still sends resolved for the alert notified before it
    engine.observe(healthy("s1", T0 + 30))
    events = engine.evaluate(T0 + 30)
    assert [e.kind for e in events] == [EventKind.RESOLVED]
    dispatcher.run_once(T0 + 30)
    assert second.got[-1].endswith(":resolved:2")
    assert {o.status for o in store.outbox()} == {"sent"}
    assert len(store.outbox()) == 3
    store.close()


def test_restart_keeps_pending_clock(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "state.db"
    store = Store(path)
    engine = Engine(quiet_rules(defaults={"power_loss": {"for_s": 60}}), store, clock)
    engine.observe(healthy("s1", T0, power_ok=False))
    assert [e.kind for e in engine.evaluate(T0)] == [EventKind.PENDING]
    store.close()

    store = Store(path)
    engine = Engine(quiet_rules(defaults={"power_loss": {"for_s": 60}}), store, clock)
    assert engine.evaluate(T0 + 30) == []
    # The pending clock survived the restart; the next FIRE verdict after it fires at once.
    engine.observe(healthy("s1", T0 + 55, power_ok=False))
    fired = engine.evaluate(T0 + 60)
    assert [e.kind for e in fired] == [EventKind.FIRING]
    assert fired[0].alert.active_at == T0
    assert store.alerts()[0].state is AlertState.FIRING
    store.close()


def test_restart_after_resolve_keeps_history(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "state.db"
    store = Store(path)
    engine = Engine(quiet_rules(), store, clock)
    engine.observe(healthy("s1", T0, power_ok=False))
    engine.evaluate(T0)
    engine.observe(healthy("s1", T0 + 10))
    engine.evaluate(T0 + 10)
    store.close()
    store = Store(path)
    engine = Engine(quiet_rules(), store, clock)
    assert engine.open_alerts() == []
    assert [a.state for a in store.alerts()] == [AlertState.RESOLVED]
    assert [r.event.kind for _, r in store.events()] == [EventKind.FIRING, EventKind.RESOLVED]
    store.close()


def test_alerts_of_disabled_or_retired_rules_resolve_after_restart(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "state.db"
    store = Store(path)
    engine = Engine(quiet_rules(), store, clock)
    engine.observe(healthy("s1", T0, power_ok=False))
    engine.evaluate(T0)
    ghost = dataclasses.replace(engine.open_alerts()[0], id="ghost-1", rule="old_rule")
    store.commit(Batch(alerts={ghost.id: (ghost, Signal.FIRE)}))
    store.close()

    store = Store(path)
    engine = Engine(quiet_rules(defaults={"power_loss": {"enabled": False}}), store, clock)
    events = engine.evaluate(T0 + 10)
    assert sorted((e.alert.rule, e.kind.value) for e in events) == [
        ("old_rule", "resolved"), ("power_loss", "resolved"),
    ]
    assert engine.open_alerts() == []
    store.close()


def test_replay_is_deterministic_on_an_in_memory_store() -> None:
    """What a backtest does: event time as the clock, ``:memory:`` state, same input twice."""

    def replay() -> list[tuple[str, str, float]]:
        store = Store(":memory:")
        clock = Clock()
        engine = Engine(quiet_rules(), store, clock)
        out = []
        for t in range(0, 600, 10):
            clock.now = T0 + t
            engine.observe(healthy("s1", clock.now, power_ok=(t // 100) % 2 == 0))
            out += [(e.key, e.kind.value, e.ts) for e in engine.evaluate(clock.now)]
        store.close()
        return out

    first = replay()
    assert first and first == replay()
