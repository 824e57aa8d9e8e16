"""Outage rules step by step: station_offline, power_loss, pump_stopped."""

from __future__ import annotations

import datetime as dt

from alert_helpers import (
    SUMMER,
    T0,
    Clock,
    EngineFactory,
    drive,
    every,
    healthy,
    quiet_rules,
    registry,
    status,
)

from alerts.model import AlertState
from heatwatch.registry import Registry, Station


def test_station_offline_after_three_intervals_min_60s(make_engine: EngineFactory,
                                                       clock: Clock) -> None:
    engine = make_engine(reg=registry("s1"))
    script = every(0, 60, 10, lambda t: [healthy("s1", t)])
    script += [(t, []) for t in range(60, 130, 10)]  # silent from the reading at 50 s
    script += [(130, [healthy("s1", T0 + 130)])]
    events = [e for e in drive(engine, clock, script) if e[1] == "station_offline"]
    assert events == [(110, "station_offline", "firing"), (130, "station_offline", "resolved")]


def test_slow_station_gets_three_of_its_intervals(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    engine = make_engine(reg=registry("s1", interval=60))
    script = [(0, [healthy("s1", T0)]), (120, []), (179, []), (180, [])]
    assert [e for e in drive(engine, clock, script) if e[1] == "station_offline"] == [
        (180, "station_offline", "firing")
    ]


def test_last_will_offline_fires_at_once_and_data_resolves(make_engine: EngineFactory,
                                                           clock: Clock) -> None:
    engine = make_engine(reg=registry("s1"))
    script = [
        (0, [healthy("s1", T0)]),
        (5, [status("s1", T0 + 5, "offline")]),
        (15, []),
        (20, [healthy("s1", T0 + 20)]),
        (30, [status("s1", T0 + 30, "offline")]),
        (40, [status("s1", T0 + 40, "online")]),  # birth message: back
    ]
    assert [e for e in drive(engine, clock, script) if e[1] == "station_offline"] == [
        (5, "station_offline", "firing"), (20, "station_offline", "resolved"),
        (30, "station_offline", "firing"), (40, "station_offline", "resolved"),
    ]


def test_power_loss_fires_and_resolves(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine()
    script = [
        (0, [healthy("s1", T0)]),
        (10, [healthy("s1", T0 + 10, power_ok=False)]),
        (20, [healthy("s1", T0 + 20, power_ok=False)]),
        (30, [healthy("s1", T0 + 30, power_ok=True)]),
    ]
    assert [e for e in drive(engine, clock, script) if e[1] == "power_loss"] == [
        (10, "power_loss", "firing"), (30, "power_loss", "resolved"),
    ]


def test_pump_stopped_pending_then_firing(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine()
    script = every(0, 200, 10, lambda t: [healthy("s1", t, pump_running=False)])
    script += [(200, [healthy("s1", T0 + 200)])]
    assert [e for e in drive(engine, clock, script) if e[1] == "pump_stopped"] == [
        (0, "pump_stopped", "pending"),
        (120, "pump_stopped", "firing"),
        (200, "pump_stopped", "resolved"),
    ]


def test_pump_stopped_by_flow_and_collapsed_difference(make_engine: EngineFactory,
                                                       clock: Clock) -> None:
    engine = make_engine(quiet_rules(defaults={"pump_stopped": {"for_s": 0}}))
    dead = {"flow": 0.01, "supply_temp": 30.0, "return_temp": 29.5}
    script = [(0, [healthy("s1", T0, **dead)])]
    events = drive(engine, clock, script)
    assert [e for e in events if e[1] == "pump_stopped"] == [(0, "pump_stopped", "firing")]
    alert = engine.open_alerts()[0]
    assert "no circulation" in alert.summary and alert.state is AlertState.FIRING


def test_pump_stopped_ignored_outside_heating_season(make_engine: EngineFactory) -> None:
    clock = Clock(SUMMER)
    engine = make_engine()
    engine.clock = clock
    for t in range(0, 300, 10):
        engine.observe(healthy("s1", SUMMER + t, pump_running=False))
        assert not [e for e in engine.evaluate(SUMMER + t) if e.alert.rule == "pump_stopped"]


def test_flapping_power_is_one_held_alert(make_engine: EngineFactory, clock: Clock) -> None:
    rules = quiet_rules(defaults={"power_loss": {"flap_threshold": 4, "flap_window_s": 300}})
    engine = make_engine(rules)
    script = every(0, 200, 10, lambda t: [healthy("s1", t, power_ok=int(t - T0) % 20 != 0)])
    events = [e[1:] for e in drive(engine, clock, script) if e[1] == "power_loss"]
    assert events.count(("power_loss", "flapping")) == 1
    assert events.count(("power_loss", "firing")) == 2  # then held: no third firing
    open_alert = engine.open_alerts()[0]
    assert open_alert.flapping and open_alert.state is AlertState.FIRING


def test_pump_stopped_creep_flow_judged_against_design_flow(make_engine: EngineFactory,
                                                            clock: Clock) -> None:
    reg = Registry.of([Station.model_validate({"id": "big", "design_flow": 20.0})])
    engine = make_engine(quiet_rules(defaults={"pump_stopped": {"for_s": 0}}), reg=reg)
    creep = {"flow": 0.2, "supply_temp": 31.0, "return_temp": 30.0}  # 1 % creep, 1 K
    events = drive(engine, clock, [(0, [healthy("big", T0, **creep)])])
    assert (0, "pump_stopped", "firing") in events


def test_season_start_is_noticed_without_new_data(make_engine: EngineFactory) -> None:
    """The round-robin sweep re-checks clean stations, so a clock-driven condition goes
    pending without new data; it fires once a reading the hold time later still shows it
    (a hold must be seen in the readings, not only on the clock)."""
    before = dt.datetime(2026, 8, 31, 20, 50, tzinfo=dt.UTC).timestamp()  # 23:50 Helsinki
    engine = make_engine(reg=registry("slow", interval=900))
    engine.observe(healthy("slow", before, pump_running=False))
    assert engine.evaluate(before) == []  # summer: a stopped pump is the plan
    seen = []
    for minute in range(10, 14):  # 00:00-00:03 local on 1 September: season starts
        seen += [(e.alert.rule, e.kind.value) for e in engine.evaluate(before + minute * 60)]
    assert seen == [("pump_stopped", "pending")]
    engine.observe(healthy("slow", before + 900, pump_running=False))  # the next report
    seen = [(e.alert.rule, e.kind.value) for e in engine.evaluate(before + 900)]
    assert seen == [("pump_stopped", "firing")]


def test_slow_station_clock_is_not_offline_when_arrival_is_known(
    make_engine: EngineFactory, clock: Clock
) -> None:
    engine = make_engine(reg=registry("skewed"))
    events = []
    for t in range(0, 300, 10):
        clock.now = T0 + t
        engine.observe(healthy("skewed", T0 + t - 600), received_at=clock.now)  # 10 min slow
        events += engine.evaluate(clock.now)
    assert not [e for e in events if e.alert.rule == "station_offline"]
