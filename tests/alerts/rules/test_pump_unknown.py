"""Wire v1 made ``pump_running`` optional (absent = unknown): readings without it must not
crash any rule, must not read as a stopped pump, and a dead circuit is still found by flow and
the collapsed supply-return difference."""

from __future__ import annotations

from alert_helpers import HEALTHY, T0, Clock, EngineFactory, drive, every, quiet_rules, telemetry

from heatwatch.wire import FieldValue, Reading

NO_PUMP: dict[str, FieldValue] = {k: v for k, v in HEALTHY.items() if k != "pump_running"}


def no_pump(station: str, t: float, **changes: FieldValue) -> Reading:
    return telemetry(station, t, **{**NO_PUMP, **changes})


def test_healthy_readings_without_pump_status_raise_nothing(make_engine: EngineFactory,
                                                            clock: Clock) -> None:
    engine = make_engine(quiet_rules())
    events = drive(engine, clock, every(0, 600, 10, lambda t: [no_pump("s1", t)]))
    assert events == []


def test_without_pump_status_a_dead_circuit_is_found_by_flow(make_engine: EngineFactory,
                                                             clock: Clock) -> None:
    engine = make_engine(quiet_rules(defaults={"pump_stopped": {"for_s": 0}}))
    dead = {"flow": 0.01, "supply_temp": 30.0, "return_temp": 29.5}
    events = drive(engine, clock, [(0, [no_pump("s1", T0, **dead)])])
    assert [e for e in events if e[1] == "pump_stopped"] == [(0, "pump_stopped", "firing")]
