"""Under-temperature rules step by step: zone_cold (bands, share, hold) and supply_below_curve."""

from __future__ import annotations

import datetime as dt

import pytest
from alert_helpers import (
    SUMMER,
    T0,
    Clock,
    EngineFactory,
    drive,
    every,
    healthy,
    indoor,
    quiet_rules,
    registry,
)

from alerts.config import CurvePoint, SupplyBelowCurve
from alerts.model import Severity
from alerts.schedule import curve_setpoint
from heatwatch.wire import Reading


def flats(t: float, temps: list[float]) -> list[Reading]:
    return [indoor("s1", f"f{i}", t, temp) for i, temp in enumerate(temps)]


def test_zone_cold_share_hold_and_severity_bands(make_engine: EngineFactory,
                                                 clock: Clock) -> None:
    engine = make_engine(reg=registry("s1", zone="north"))
    warm = [21.0] * 10
    two_cold = [16.0, 17.0] + [21.0] * 8
    two_frozen = [12.0, 12.5] + [21.0] * 8
    script = [(0, flats(T0, warm)), (600, flats(T0 + 600, two_cold))]
    script += [(t, []) for t in (1800, 2400)]
    script += [(3000, flats(T0 + 3000, two_frozen)), (3600, flats(T0 + 3600, warm))]
    events = [e for e in drive(engine, clock, script) if e[1] == "zone_cold"]
    assert events == [
        (600, "zone_cold", "pending"),
        (2400, "zone_cold", "firing"),
        (3000, "zone_cold", "severity"),
        (3600, "zone_cold", "resolved"),
    ]
    first = engine.store.alerts(rule="zone_cold")[0]
    assert first.subject == "north" and first.zone == "north" and first.station is None
    assert first.severity is Severity.CRITICAL  # last band it reached


def test_zone_cold_states_flats_and_min_median(make_engine: EngineFactory,
                                               clock: Clock) -> None:
    rules = quiet_rules(defaults={"zone_cold": {"for_s": 0}})
    engine = make_engine(rules, reg=registry("s1", zone="north"))
    drive(engine, clock, [(0, flats(T0, [15.0, 17.0, 19.0, 20.0, 22.0]))])
    alert = engine.open_alerts()[0]
    assert alert.severity is Severity.WARNING
    assert alert.annotations["flats_affected"] == "2"
    assert alert.annotations["flats_total"] == "5"
    assert alert.annotations["min_indoor_c"] == "15.0"
    assert alert.annotations["median_indoor_c"] == "19.0"
    assert alert.annotations["standard_c"] == "18"  # messages name the standard
    assert "2 of 5 flats" in alert.summary


def test_zone_cold_ignores_sentinels_and_small_share(make_engine: EngineFactory,
                                                     clock: Clock) -> None:
    # (the dead probes are flat_sensor's: off here, tests/alerts/test_flats*.py has them)
    rules = quiet_rules(defaults={"zone_cold": {"for_s": 0}, "flat_sensor": {"enabled": False}})
    engine = make_engine(rules, reg=registry("s1"))
    temps = [-39.9] * 3 + [21.0] * 20  # dead probes are not cold flats
    assert drive(engine, clock, [(0, flats(T0, temps))]) == []
    temps = [17.0] + [21.0] * 19  # 5 %: under the 10 % share
    assert drive(engine, clock, [(10, flats(T0 + 10, temps))]) == []


def test_zone_cold_off_season(make_engine: EngineFactory) -> None:
    rules = quiet_rules(defaults={"zone_cold": {"for_s": 0}})
    engine = make_engine(rules, reg=registry("s1"))
    clock = Clock(SUMMER)
    for r in flats(SUMMER, [15.0] * 10):
        engine.observe(r)
    assert engine.evaluate(clock.now) == []


def test_zone_cold_threshold_overridable_per_zone(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    rules = quiet_rules(
        defaults={"zone_cold": {"for_s": 0}}, zones={"north": {"zone_cold": {"share": 0.5}}}
    )
    engine = make_engine(rules, reg=registry("s1", zone="north"))
    assert drive(engine, clock, [(0, flats(T0, [16.0] * 3 + [21.0] * 7))]) == []


@pytest.mark.parametrize(
    ("outdoor", "setpoint"), [(-30, 55.0), (-19, 55.0), (-7, 45.0), (5, 35.0), (20, 35.0)]
)
def test_weather_curve_linear_and_clamped(outdoor: float, setpoint: float) -> None:
    assert curve_setpoint(outdoor, SupplyBelowCurve().curve) == pytest.approx(setpoint)


def test_weather_curve_with_more_points() -> None:
    curve = (CurvePoint(outdoor_c=-20, supply_c=70), CurvePoint(outdoor_c=0, supply_c=50),
             CurvePoint(outdoor_c=10, supply_c=30))
    assert curve_setpoint(5, curve) == pytest.approx(40.0)


def test_supply_below_curve_hold_band_and_recovery(make_engine: EngineFactory,
                                                   clock: Clock) -> None:
    engine = make_engine()
    # outdoor -19: setpoint 55; tolerance 5 K, recovery within 3 K
    # still under the curve when the hold ends (2100); then in the band (firing holds); then
    # within the recovery distance (resolved)
    supply = {0: 54.0, 300: 45.0, 2100: 45.0, 2700: 51.0, 3000: 53.0}
    script = [
        (t, [healthy("s1", T0 + t, outdoor_temp=-19.0, supply_temp=s)])
        for t, s in supply.items()
    ]
    events = [e for e in drive(engine, clock, script) if e[1] == "supply_below_curve"]
    assert events == [
        (300, "supply_below_curve", "pending"),
        (2100, "supply_below_curve", "firing"),
        (3000, "supply_below_curve", "resolved"),
    ]


def test_night_setback_lowers_the_setpoint(make_engine: EngineFactory) -> None:
    night = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC).timestamp()  # 01:30 in Helsinki
    rules = quiet_rules(
        defaults={"supply_below_curve": {"for_s": 0}},
        zones={"north": {"heating": {"setback_start": "22:00", "setback_end": "06:00",
                                     "setback_k": 10}}},
    )
    engine = make_engine(rules, reg=registry("s1", "s2", zone="north"))
    engine.observe(healthy("s1", night, outdoor_temp=-19.0, supply_temp=46.0))
    engine.observe(healthy("s3", night, outdoor_temp=-19.0, supply_temp=46.0))
    fired = {e.alert.station for e in engine.evaluate(night)
             if e.alert.rule == "supply_below_curve"}
    assert fired == {"s3"}  # s3 is unassigned: no setback there


def test_supply_curve_off_season(make_engine: EngineFactory) -> None:
    engine = make_engine(quiet_rules(defaults={"supply_below_curve": {"for_s": 0}}))
    engine.observe(healthy("s1", SUMMER, outdoor_temp=20.0, supply_temp=10.0))
    assert not [e for e in engine.evaluate(SUMMER) if e.alert.rule == "supply_below_curve"]


def test_series_helper_is_stable(make_engine: EngineFactory, clock: Clock) -> None:
    engine = make_engine()
    assert drive(engine, clock, every(0, 600, 60, lambda t: [healthy("s1", t)])) == []


def test_zone_cold_night_standard_during_setback(make_engine: EngineFactory) -> None:
    night = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC).timestamp()  # 01:30 in Helsinki
    rules = quiet_rules(
        defaults={"zone_cold": {"for_s": 0, "night_standard_c": 16.0}},
        zones={"north": {"heating": {"setback_start": "22:00", "setback_end": "06:00"}}},
    )
    engine = make_engine(rules, reg=registry("s1", zone="north"))
    for r in flats(night, [17.0] * 5 + [21.0] * 5):  # under 18 but over the night 16
        engine.observe(r)
    assert engine.evaluate(night) == []
    morning = night + 5 * 3600  # 06:30 local: day standard again, same temperatures
    engine.observe(indoor("s1", "f0", morning, 17.0))
    fired = [e for e in engine.evaluate(morning) if e.alert.rule == "zone_cold"]
    assert [e.kind.value for e in fired] == ["firing"]
    assert fired[0].alert.annotations["flats_affected"] == "5"


@pytest.mark.parametrize("supply", [-39.9, 327.67, -25.0])
def test_supply_below_curve_ignores_a_dead_probe(make_engine: EngineFactory,
                                                 supply: float) -> None:
    """A logger sentinel or an impossible supply is out_of_range's business, not an
    under-supply (found by bench/detection.py: a -39.9 sentinel raised supply_below_curve)."""
    rules = quiet_rules(defaults={"supply_below_curve": {"for_s": 0}})
    engine = make_engine(rules)
    engine.observe(healthy("s1", T0, outdoor_temp=-19.0, supply_temp=supply))
    assert not [e for e in engine.evaluate(T0) if e.alert.rule == "supply_below_curve"]
    engine.observe(healthy("s1", T0 + 10, outdoor_temp=-19.0, supply_temp=40.0,
                           return_temp=32.0))
    fired = [e for e in engine.evaluate(T0 + 10) if e.alert.rule == "supply_below_curve"]
    assert [e.kind.value for e in fired] == ["firing"]  # a real low supply still fires
