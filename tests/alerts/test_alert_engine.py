"""Engine behaviour across rules: inhibition, pipeline_down, start-up grace, acks,
maintenance windows, repeats and the notification outbox."""

from __future__ import annotations

import pytest
from alert_helpers import (
    T0,
    Clock,
    EngineFactory,
    api_ack,
    api_window,
    drive,
    every,
    healthy,
    indoor,
    quiet_rules,
    registry,
    status,
)

from alerts.config import RulesConfig
from alerts.model import EventKind, Scope, Signal
from alerts.rows import Batch
from alerts.store import AlertNotOpen, Store


def outbox(store: Store) -> list[tuple[str, str]]:
    return [(o.alert.rule, o.kind.value) for o in store.outbox()]


def test_pump_stopped_inhibits_pressure_then_releases(make_engine: EngineFactory,
                                                      clock: Clock, store: Store) -> None:
    rules = quiet_rules(defaults={"pump_stopped": {"for_s": 0}, "pressure_drop": {"for_s": 0}})
    engine = make_engine(rules)
    drive(engine, clock, [
        (0, [healthy("s1", T0, pump_running=False, return_pressure=0.5),
             healthy("s2", T0, return_pressure=0.5)]),
    ])
    assert sorted(outbox(store)) == [
        ("pressure_drop", "firing"), ("pump_stopped", "firing"),  # s2's pressure, s1's pump
    ]
    logged = {(r.event.alert.rule, r.event.alert.station): r for _, r in store.events()}
    assert logged[("pressure_drop", "s1")].inhibited
    assert not logged[("pressure_drop", "s2")].inhibited
    # pump back, pressure still low: the held-back firing goes out now
    drive(engine, clock, [(10, [healthy("s1", T0 + 10, return_pressure=0.5)])])
    s1_pressure = [o for o in store.outbox() if o.alert.station == "s1"
                   and o.alert.rule == "pressure_drop"]
    assert [o.kind for o in s1_pressure] == [EventKind.FIRING]


def test_inhibited_alert_never_notified_gets_no_resolved(make_engine: EngineFactory,
                                                         clock: Clock, store: Store) -> None:
    rules = quiet_rules(defaults={"pump_stopped": {"for_s": 0}, "pressure_drop": {"for_s": 0}})
    engine = make_engine(rules)
    drive(engine, clock, [
        (0, [healthy("s1", T0, pump_running=False, return_pressure=0.5)]),
        (10, [healthy("s1", T0 + 10, pump_running=False, return_pressure=2.0)]),
    ])
    assert outbox(store) == [("pump_stopped", "firing")]
    kinds = [r.event.kind for _, r in store.events() if r.event.alert.rule == "pressure_drop"]
    assert kinds == [EventKind.FIRING, EventKind.RESOLVED]  # recorded all the same


def pipeline_rules(**pipeline: object) -> RulesConfig:
    return RulesConfig.model_validate({"pipeline": {"startup_grace_s": 0, **pipeline}})


def test_mass_silence_is_one_pipeline_alert_not_a_storm(make_engine: EngineFactory,
                                                        clock: Clock, store: Store) -> None:
    stations = [f"s{i}" for i in range(10)]
    engine = make_engine(pipeline_rules(), reg=registry(*stations))
    script = every(0, 60, 10, lambda t: [healthy(s, t) for s in stations])
    script += [(t, []) for t in range(60, 400, 10)]  # broker silently stops delivering
    # nine come back; s9 is really dead
    script += every(400, 600, 10, lambda t: [healthy(s, t) for s in stations[:9]])
    events = drive(engine, clock, script)
    pipeline = [(t, k) for t, r, k in events if r == "pipeline_down"]
    assert pipeline == [(80, "firing"), (400, "resolved")]
    offline = [(t, r, k) for t, r, k in events if r == "station_offline"]
    # the dead one fires a full timeout after data resumed, not at once
    assert offline == [(460, "station_offline", "firing")]
    assert ("pipeline_down", "firing") in outbox(store)


def test_broker_disconnect_fires_pipeline_down(make_engine: EngineFactory,
                                               clock: Clock) -> None:
    stations = [f"s{i}" for i in range(3)]
    engine = make_engine(pipeline_rules(), reg=registry(*stations))
    drive(engine, clock, [(0, [healthy(s, T0) for s in stations])])
    engine.observe_input(False, T0 + 5)
    events = drive(engine, clock, [(t, []) for t in range(10, 200, 10)])
    assert [(t, k) for t, r, k in events if r == "pipeline_down"] == [(40, "firing")]
    assert not [e for e in events if e[1] == "station_offline"]
    engine.observe_input(True, T0 + 200)
    events = drive(engine, clock, [(200, [healthy(s, T0 + 200) for s in stations])])
    assert [(t, k) for t, r, k in events if r == "pipeline_down"] == [(200, "resolved")]


def test_pipeline_down_inhibits_existing_offline_alerts(make_engine: EngineFactory,
                                                        clock: Clock, store: Store) -> None:
    stations = [f"s{i}" for i in range(6)]
    engine = make_engine(pipeline_rules(), reg=registry(*stations))
    # s0 dies first and is reported; then the broker goes
    drive(engine, clock, every(0, 100, 10, lambda t: [healthy(s, t) for s in stations[1:]]))
    assert ("station_offline", "firing") in outbox(store)
    engine.observe_input(False, T0 + 100)
    drive(engine, clock, [(t, []) for t in range(100, 200, 10)])
    s0 = next(a for a in engine.open_alerts() if a.rule == "station_offline")
    assert engine.router.inhibited(s0)


def test_startup_grace_prevents_offline_storm(make_engine: EngineFactory,
                                              clock: Clock) -> None:
    rules = quiet_rules(pipeline={"enabled": False, "startup_grace_s": 300})
    engine = make_engine(rules, reg=registry("alive", "dead"))
    script = every(0, 400, 10, lambda t: [healthy("alive", t)])
    events = [e for e in drive(engine, clock, script) if e[1] == "station_offline"]
    assert events == [(300, "station_offline", "firing")]
    assert engine.open_alerts()[0].station == "dead"


def test_reconnect_grace_holds_the_wills_a_broker_restart_fired(make_engine: EngineFactory,
                                                                 clock: Clock) -> None:
    """A broker restart fires every gateway's will (retained ``offline``); the engine is back
    first and sees them before the gateways reconnect and say ``online``. Regression (chaos
    test, broker restart): that paged every station of the fleet for a few seconds."""
    rules = quiet_rules(pipeline={"enabled": False, "startup_grace_s": 0,
                                  "reconnect_grace_s": 30})
    engine = make_engine(rules, reg=registry("back", "dead"))
    drive(engine, clock, [(0, [healthy("back", T0), healthy("dead", T0)])])
    engine.observe_input(False, T0 + 5)
    engine.observe_input(True, T0 + 7)
    script = [(7.0, [status("back", T0 + 7, "offline"), status("dead", T0 + 7, "offline")]),
              (9.0, [status("back", T0 + 9, "online")])]
    script += every(10, 60, 10, lambda t: [healthy("back", t)])
    events = [e for e in drive(engine, clock, script) if e[1] == "station_offline"]
    # the gateway that came back is never blamed; the dead one fires once the grace is over
    assert events == [(40, "station_offline", "firing")]
    assert [a.station for a in engine.open_alerts()] == ["dead"]


def test_ack_records_and_resolved_still_sent(make_engine: EngineFactory, clock: Clock,
                                             store: Store) -> None:
    engine = make_engine()
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    alert = engine.open_alerts()[0]
    api_ack(store, alert.id, by="crew-north", comment="on our way", now=T0 + 5)
    stored = store.alert(alert.id)
    assert stored is not None and stored.acked_by == "crew-north"
    assert stored.ack_comment == "on our way" and stored.acked_at == T0 + 5
    drive(engine, clock, [(10, [healthy("s1", T0 + 10)]), (20, [healthy("s1", T0 + 20,
                                                                        power_ok=False)])])
    assert outbox(store) == [("power_loss", "firing"), ("power_loss", "resolved"),
                             ("power_loss", "firing")]
    assert engine.open_alerts()[0].acked_by is None  # the ack ended with its alert
    logged = [r.event.kind for _, r in store.events()]
    assert EventKind.ACKNOWLEDGED in logged
    with pytest.raises(AlertNotOpen):
        api_ack(store, alert.id, by="late", now=T0 + 30)


def test_repeat_notifications_stop_when_acked(make_engine: EngineFactory, clock: Clock,
                                              store: Store) -> None:
    engine = make_engine(quiet_rules(repeat_interval_s=600))
    drive(engine, clock, every(0, 1300, 100, lambda t: [healthy("s1", t, power_ok=False)]))
    assert outbox(store) == [("power_loss", "firing")] * 3  # 0, 600, 1200
    api_ack(store, engine.open_alerts()[0].id, by="me", now=T0 + 1300)
    drive(engine, clock, every(1300, 3000, 100, lambda t: [healthy("s1", t, power_ok=False)]))
    assert len(store.outbox()) == 3
    assert len({o.key for o in store.outbox()}) == 3


def test_maintenance_mutes_but_records(make_engine: EngineFactory, clock: Clock,
                                       store: Store) -> None:
    engine = make_engine(reg=registry("s1", "s2", zone="north"))
    api_window(store, Scope.ZONE, "north", T0, T0 + 100, reason="valve swap", by="x")
    drive(engine, clock, [
        (0, [healthy("s1", T0, power_ok=False), healthy("s3", T0, power_ok=False)]),
        (50, [healthy("s1", T0 + 50), healthy("s3", T0 + 50)]),
    ])
    # s1 (in zone north) muted: fired and resolved without a message; s3 notified both ways
    assert [(o.alert.station, o.kind.value) for o in store.outbox()] == [
        ("s3", "firing"), ("s3", "resolved"),
    ]
    muted = [r for _, r in store.events() if r.event.alert.station == "s1"]
    assert [r.event.kind for r in muted] == [EventKind.FIRING, EventKind.RESOLVED]
    assert all(r.muted for r in muted)


def test_firing_held_by_maintenance_is_sent_when_window_ends(
    make_engine: EngineFactory, clock: Clock, store: Store
) -> None:
    engine = make_engine()
    api_window(store, Scope.STATION, "s1", T0, T0 + 100)
    drive(engine, clock, every(0, 150, 10, lambda t: [healthy("s1", t, power_ok=False)]))
    assert [(o.kind.value, o.ts) for o in store.outbox()] == [("firing", T0 + 100)]


def test_resolved_sent_during_maintenance_when_firing_was_sent(
    make_engine: EngineFactory, clock: Clock, store: Store
) -> None:
    engine = make_engine()
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    api_window(store, Scope.STATION, "s1", T0 + 5, T0 + 100)
    drive(engine, clock, [(10, [healthy("s1", T0 + 10)])])
    assert outbox(store) == [("power_loss", "firing"), ("power_loss", "resolved")]


def test_one_open_alert_per_rule_and_subject(make_engine: EngineFactory, clock: Clock,
                                             store: Store) -> None:
    engine = make_engine()
    drive(engine, clock, every(0, 100, 10, lambda t: [healthy("s1", t, power_ok=False)]))
    assert len(store.alerts(rule="power_loss")) == 1
    assert len(engine.open_alerts()) == 1


def test_acks_and_windows_from_another_process(make_engine: EngineFactory, clock: Clock,
                                               store: Store) -> None:
    """The API writes acks and windows through its own connection; the engine adopts them
    and never erases an ack that landed while it was evaluating."""
    engine = make_engine(quiet_rules(repeat_interval_s=600))
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    other = Store(store.path)
    stored = other.alert(engine.open_alerts()[0].id)
    assert stored is not None
    stored.acked_by, stored.ack_comment, stored.acked_at = "api-user", "seen", T0 + 1
    stored.assignee = "crew-7"
    other.commit(Batch(alerts={stored.id: (stored, Signal.FIRE)}))
    other.add_window(Scope.STATION, "s2", T0, T0 + 3600)
    other.close()

    drive(engine, clock, every(10, 1300, 100, lambda t: [healthy("s1", t, power_ok=False),
                                                         healthy("s2", t, power_ok=False)]))
    live = next(a for a in engine.open_alerts() if a.station == "s1")
    assert (live.acked_by, live.assignee) == ("api-user", "crew-7")
    # no repeat for the acked s1 alert; s2 is muted by the window the API added
    assert outbox(store) == [("power_loss", "firing")]
    drive(engine, clock, [(1300, [healthy("s1", T0 + 1300)])])
    resolved = store.alert(live.id)
    assert resolved is not None and resolved.acked_by == "api-user"
    assert outbox(store)[-1] == ("power_loss", "resolved")


def test_engine_evaluation_never_erases_a_concurrent_ack(make_engine: EngineFactory,
                                                         clock: Clock, store: Store) -> None:
    engine = make_engine()
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    alert_id = engine.open_alerts()[0].id
    other = Store(store.path)
    row = other.alert(alert_id)
    assert row is not None
    row.acked_by, row.acked_at = "api-user", T0 + 1
    other.commit(Batch(alerts={alert_id: (row, Signal.FIRE)}))
    other.close()
    # the engine's in-memory copy has no ack yet; its batch must keep the stored one
    engine._data_version = engine.store.data_version()  # simulate: sync ran just before
    drive(engine, clock, [(10, [healthy("s1", T0 + 10)])])
    stored = store.alert(alert_id)
    assert stored is not None and stored.acked_by == "api-user"
    assert stored.state.value == "resolved"


def test_zone_window_mutes_zone_cold(make_engine: EngineFactory, clock: Clock,
                                     store: Store) -> None:
    engine = make_engine(quiet_rules(defaults={"zone_cold": {"for_s": 0}}),
                         reg=registry("s1", zone="north"))
    api_window(store, Scope.ZONE, "north", T0, T0 + 600, reason="network works")
    cold = [indoor("s1", f"f{i}", T0, 15.0) for i in range(5)]
    drive(engine, clock, [(0, cold)])
    assert outbox(store) == []
    assert [r.muted for _, r in store.events()] == [True]


def test_muted_severity_change_is_not_sent_but_release_carries_it(
    make_engine: EngineFactory, clock: Clock, store: Store
) -> None:
    engine = make_engine(quiet_rules(defaults={"zone_cold": {"for_s": 0}}),
                         reg=registry("s1", zone="north"))
    api_window(store, Scope.ZONE, "north", T0, T0 + 100)
    drive(engine, clock, [
        (0, [indoor("s1", f"f{i}", T0, 16.0) for i in range(5)]),
        (50, [indoor("s1", f"f{i}", T0 + 50, 12.0) for i in range(5)]),
        (100, [indoor("s1", "f0", T0 + 100, 12.0)]),
    ])
    (sent,) = [o for o in store.outbox() if o.alert.rule == "zone_cold"]
    assert sent.kind is EventKind.FIRING and sent.alert.severity.value == "critical"
