"""Sensor-fault rules step by step: stuck_sensor, out_of_range (sentinels), return_above_supply."""

from __future__ import annotations

from alert_helpers import T0, Clock, EngineFactory, drive, every, healthy, quiet_rules


def wobble(t: float) -> float:
    """A live probe never repeats itself exactly."""
    return 55.0 + ((t - T0) % 7) / 10


def test_stuck_sensor_fires_after_unchanged_hours(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    rules = quiet_rules(defaults={"stuck_sensor": {"stuck_after_s": 1800}})
    engine = make_engine(rules)
    # primary_supply_temp frozen at 90.0 while everything else moves
    script = every(0, 2400, 60, lambda t: [healthy("s1", t, supply_temp=wobble(t),
                                                   return_temp=wobble(t) - 15,
                                                   return_pressure=wobble(t) / 20,
                                                   supply_pressure=wobble(t) / 18,
                                                   primary_return_temp=wobble(t) - 5)])
    script += [(2400, [healthy("s1", T0 + 2400, primary_supply_temp=91.0)])]
    events = [e for e in drive(engine, clock, script) if e[1] == "stuck_sensor"]
    assert events == [(1800, "stuck_sensor", "firing"), (2400, "stuck_sensor", "resolved")]
    alert = engine.store.alerts(rule="stuck_sensor")[0]
    assert alert.annotations["fields"] == "primary_supply_temp"


def test_silent_station_is_not_stuck(make_engine: EngineFactory, clock: Clock) -> None:
    rules = quiet_rules(defaults={"stuck_sensor": {"stuck_after_s": 600}})
    engine = make_engine(rules)
    script = [(0, [healthy("s1", T0)]), (700, []), (1400, [])]
    assert not [e for e in drive(engine, clock, script) if e[1] == "stuck_sensor"]


def test_out_of_range_sentinel(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine()
    script = [
        (0, [healthy("s1", T0, outdoor_temp=-39.9)]),
        (30, [healthy("s1", T0 + 30, outdoor_temp=-39.9)]),
        (60, [healthy("s1", T0 + 60, outdoor_temp=-39.9)]),
        (90, [healthy("s1", T0 + 90, outdoor_temp=-5.0)]),
    ]
    events = [e for e in drive(engine, clock, script) if e[1] == "out_of_range"]
    assert events == [
        (0, "out_of_range", "pending"),
        (60, "out_of_range", "firing"),
        (90, "out_of_range", "resolved"),
    ]
    assert "outdoor_temp=-39.9" in engine.store.alerts(rule="out_of_range")[0].summary


def test_out_of_range_impossible_value(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine(quiet_rules(defaults={"out_of_range": {"for_s": 0}}))
    events = drive(engine, clock, [(0, [healthy("s1", T0, return_pressure=-3.0)])])
    assert (0, "out_of_range", "firing") in events


def test_return_above_supply(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine()
    script = every(0, 1200, 300, lambda t: [healthy("s1", t, primary_return_temp=95.0,
                                                    primary_flow=20.0)])
    script += [(1200, [healthy("s1", T0 + 1200, primary_flow=20.0)])]
    events = [e for e in drive(engine, clock, script) if e[1] == "return_above_supply"]
    assert events == [
        (0, "return_above_supply", "pending"),
        (900, "return_above_supply", "firing"),
        (1200, "return_above_supply", "resolved"),
    ]


def test_fields_only_an_override_watches_are_kept(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    """The engine keeps only fields some rule reads; a field named only in one station's
    override (a range, a stuck field) is one of them, and one no rule reads is not kept."""
    rules = quiet_rules(stations={
        "s1": {"out_of_range": {"for_s": 0, "ranges": {"valve": {"min": 0, "max": 1}}}},
        "s2": {"stuck_sensor": {"fields": ["pump_freq"], "stuck_after_s": 60,
                                "min_samples": 3}},
    })
    engine = make_engine(rules)
    script = every(0, 120, 30, lambda t: [
        healthy("s1", t, valve=3.0, damper=0.5),
        healthy("s2", t, pump_freq=42.0, supply_temp=wobble(t)),
    ])
    events = drive(engine, clock, script)
    assert (0, "out_of_range", "firing") in events
    assert (60, "stuck_sensor", "firing") in events
    assert "valve" in engine.fleet.windows["s1"].fields
    assert "damper" not in engine.fleet.windows["s1"].fields
