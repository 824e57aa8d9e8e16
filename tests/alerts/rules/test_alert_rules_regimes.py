"""Heating regimes step by step: night shutdown, the morning restart, warm-up, planned off
windows and ``heating_not_resumed``, on scripted series shaped like real substations (heat
power near zero when off, the controller's setpoint staying high overnight, supply climbing for
about an hour after the restart and the primary return above the primary supply for a few
samples).

T0 is 12:00 UTC and the schedule's time zone is UTC, so offsets read as times of day: 10 h is
22:00, 17 h is 05:00 the next morning.
"""

from __future__ import annotations

from typing import Any

from alert_helpers import T0, Clock, EngineFactory, drive, quiet_rules, registry, telemetry

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.model import Signal, Verdict
from alerts.rules.outage import PUMP_STOPPED
from alerts.rules.sensor import RETURN_ABOVE_SUPPLY
from alerts.rules.spec import RuleSpec
from alerts.rules.temperature import SUPPLY_BELOW_CURVE
from alerts.window import StationWindow
from heatwatch.wire import Reading

H = 3600.0
STEP = 900.0  # a reading every 15 minutes, like the real exports
NIGHT = {"start": "22:00", "end": "05:00"}


def rules(heating: dict[str, object] | None = None, **more: object) -> RulesConfig:
    defaults: dict[str, object] = {
        "heating": {"timezone": "UTC", **(heating or {})},
        "station_offline": {"min_timeout_s": 3 * H},
        "stuck_sensor": {"enabled": False},  # the scripted values repeat
        **more,
    }
    return quiet_rules(defaults=defaults)


def station(
    t: float, off: float | None = None, on: float | None = None, climb_s: float = H,
    outdoor: float = 0.0, supply_after: float | None = None, power: bool = True,
) -> Reading:
    """One reading at ``t`` of a station switched off at offset ``off`` and back on at
    ``on``: while off, no heat and a cooling secondary; after the restart supply climbs
    linearly over ``climb_s`` to the setpoint (or to ``supply_after``) and the primary
    return is above the primary supply for the first two samples."""
    x = t - T0
    setpoint = 50.0  # the controller's target stays high overnight, as on real stations
    fields: dict[str, float] = {"outdoor_temp": outdoor, "supply_setpoint": setpoint}
    if off is not None and off <= x and (on is None or x < on):
        cooled = min(1.0, (x - off) / (3 * H))
        fields |= {"supply_temp": 50.0 - 22.0 * cooled, "return_temp": 49.5 - 22.0 * cooled,
                   "primary_supply_temp": 75.0 - 10 * cooled,
                   "primary_return_temp": 45.0 - 18 * cooled, "heat_power": 1.0}
    else:
        since = None if on is None or x < on else x - on
        target = setpoint if since is None or supply_after is None else supply_after
        supply = target
        if since is not None and since < climb_s:
            supply = 28.0 + (target - 28.0) * since / climb_s
        restarting = since is not None and since < 2 * STEP
        fields |= {"supply_temp": supply, "return_temp": supply - 10.0,
                   "primary_supply_temp": 35.0 if restarting else 80.0,
                   "primary_return_temp": 40.0 if restarting else 45.0, "heat_power": 250.0}
    if not power:
        del fields["heat_power"]
    return telemetry("s1", t, **fields)


def run(engine: Engine, clock: Clock, start: float, stop: float,
        **shape: object) -> list[tuple[float, str, str]]:
    script = []
    x = start
    while x < stop:
        script.append((x, [station(T0 + x, **shape)]))  # type: ignore[arg-type]
        x += STEP
    return drive(engine, clock, script)


def rule_events(events: list[tuple[float, str, str]], rule: str) -> list[tuple[float, str]]:
    return [(x, kind) for x, r, kind in events if r == rule]


def test_night_shutdown_and_restart_with_off_window_raise_nothing(
    make_engine: EngineFactory, clock: Clock
) -> None:
    engine = make_engine(rules({"off_windows": [NIGHT]}), reg=registry("s1", interval=STEP))
    events = run(engine, clock, 0, 30 * H, off=10 * H, on=17 * H)
    assert events == []


def test_night_shutdown_and_restart_without_off_window_raise_nothing(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """No plan known: the data say idle at night, then a restart and its warm-up."""
    engine = make_engine(rules(), reg=registry("s1", interval=STEP))
    assert run(engine, clock, 0, 30 * H, off=10 * H, on=17 * H) == []


def test_the_restart_transient_would_alert_without_the_warm_up(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """The same restart with the warm-up switched off: the climbing supply and the primary
    pair are the false alerts real stations raised every morning."""
    fast = {"supply_below_curve": {"for_s": 900}, "return_above_supply": {"for_s": 0}}
    engine = make_engine(rules({"off_windows": [NIGHT], "warmup_s": 0}, **fast),
                         reg=registry("s1", interval=STEP))
    events = run(engine, clock, 0, 20 * H, off=10 * H, on=17 * H, climb_s=2 * H)
    assert (17 * H, "return_above_supply", "firing") in events
    assert (17 * H + 900, "supply_below_curve", "firing") in events


def test_warm_up_ends_by_time(make_engine: EngineFactory, clock: Clock) -> None:
    """Supply never reaches its target after the restart: the warm-up lasts warmup_s (90
    min), then supply_below_curve holds its for_s (30 min) and fires."""
    engine = make_engine(rules({"off_windows": [NIGHT]}), reg=registry("s1", interval=STEP))
    events = run(engine, clock, 0, 22 * H, off=10 * H, on=17 * H, supply_after=40.0,
                 climb_s=STEP)
    assert rule_events(events, "supply_below_curve") == [
        (17 * H + 1.5 * H, "pending"), (17 * H + 2 * H, "firing")]


def test_warm_up_ends_when_supply_reaches_its_target(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """Within tolerance 30 min after the restart, then falling away: judged at once, not
    after the full 90 minutes."""
    engine = make_engine(rules({"off_windows": [NIGHT]}), reg=registry("s1", interval=STEP))
    script = []
    x = 0.0
    while x < 22 * H:
        r = station(T0 + x, off=10 * H, on=17 * H, climb_s=1800)
        if x >= 17 * H + 2700:  # reached 50 at 05:30, drops to 40 at 05:45
            r.fields["supply_temp"], r.fields["return_temp"] = 40.0, 32.0
        script.append((x, [r]))
        x += STEP
    events = drive(engine, clock, script)
    assert rule_events(events, "supply_below_curve") == [
        (17 * H + 2700, "pending"), (17 * H + 2700 + 1800, "firing")]


def test_heating_not_resumed_after_the_window(make_engine: EngineFactory,
                                              clock: Clock) -> None:
    """Off at 22:00 as planned, not back at 05:00: an outage an hour after the window ended
    (after_window_s), resolved when heat flows again at 08:00."""
    engine = make_engine(rules({"off_windows": [NIGHT]}), reg=registry("s1", interval=STEP))
    events = run(engine, clock, 0, 24 * H, off=10 * H, on=20 * H)
    assert rule_events(events, "heating_not_resumed") == [
        (18 * H, "firing"), (20 * H, "resolved")]
    alert = engine.store.alerts(rule="heating_not_resumed")[0]
    assert alert.annotations["why"] == "after_window"
    assert alert.annotations["window_end"] == "05:00"
    assert "after its planned off window" in alert.summary


def test_heating_not_resumed_off_outside_the_plan(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    """Switched off at 14:00 with a night window planned: unplanned, so unplanned_s (here
    2 h) decides; back at 20:00."""
    engine = make_engine(rules({"off_windows": [NIGHT]},
                               heating_not_resumed={"unplanned_s": 2 * H}),
                         reg=registry("s1", interval=STEP))
    events = run(engine, clock, 0, 10 * H, off=2 * H, on=8 * H)
    assert rule_events(events, "heating_not_resumed") == [
        (4 * H, "firing"), (8 * H, "resolved")]
    assert engine.store.alerts(rule="heating_not_resumed")[0].annotations["why"] == "unplanned"


def test_heating_not_resumed_not_on_a_mild_day_or_in_summer(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """Switched off all day at 8 °C outside: a mild day switched off on purpose."""
    engine = make_engine(rules(heating_not_resumed={"unplanned_s": 2 * H}),
                         reg=registry("s1", interval=STEP))
    assert rule_events(run(engine, clock, 0, 10 * H, off=1 * H, outdoor=8.0),
                       "heating_not_resumed") == []


def test_default_config_pages_a_long_cold_outage_not_a_night(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """No off window known: a 7 h night shutdown is below unplanned_s (9 h) and silent; a
    station still off 9 h later on a cold day is an outage."""
    engine = make_engine(rules(), reg=registry("s1", interval=STEP))
    assert rule_events(run(engine, clock, 0, 20 * H, off=10 * H, on=17 * H),
                       "heating_not_resumed") == []
    events = run(engine, clock, 20 * H, 40 * H, off=22 * H)
    assert rule_events(events, "heating_not_resumed") == [(31 * H, "firing")]


def test_night_without_heat_power_uses_the_supply_return_difference(
    make_engine: EngineFactory, clock: Clock
) -> None:
    """A station without a heat meter: the secondary difference tells idle from running."""
    engine = make_engine(rules(), reg=registry("s1", interval=STEP))
    assert run(engine, clock, 0, 30 * H, off=10 * H, on=17 * H, power=False) == []
    window = engine.fleet.windows["s1"]
    assert window.delivering is True and window.resumed_at == T0 + 17 * H


# -- pure rule checks on scripted windows ---------------------------------------------------

def window_with(t: float, rs_design_flow: float | None = None,
                **fields: float | bool) -> StationWindow:
    w = StationWindow("s1", "north", design_flow=rs_design_flow)
    w.observe(t, dict(fields))
    return w


def verdict(rule: RuleSpec[Any], cfg: RulesConfig, w: StationWindow, t: float) -> Verdict:
    return rule.evaluate(t, w, cfg.params_for("north", "s1"), cfg.fields)


CURVES = {
    "supply_below_curve": {
        "curve": [{"outdoor_c": -20, "supply_c": 70}, {"outdoor_c": 10, "supply_c": 40}],
        "for_s": 0},
}


def test_reference_order_setpoint_then_calibrated_then_curve() -> None:
    """At 0 °C the zone curve wants 50 °C, the calibrated curve 60 °C, the controller 45."""
    calibrated = {"calibrated_curve": [{"outdoor_c": -10, "supply_c": 70},
                                       {"outdoor_c": 10, "supply_c": 50}]}
    plain = rules(**CURVES)
    cal = rules(supply_below_curve={**CURVES["supply_below_curve"], **calibrated})
    rule = SUPPLY_BELOW_CURVE
    base = {"outdoor_temp": 0.0, "supply_temp": 39.0, "return_temp": 30.0, "heat_power": 200.0}
    w = window_with(T0, **base)
    v = verdict(rule, plain, w, T0)
    assert v.signal is Signal.FIRE and dict(v.annotations)["reference"] == "curve"
    assert dict(v.annotations)["setpoint_c"] == "50.0" and "(curve)" in (v.summary or "")
    v = verdict(rule, cal, w, T0)
    assert dict(v.annotations)["reference"] == "calibrated"
    assert dict(v.annotations)["setpoint_c"] == "60.0"
    w = window_with(T0, **base, supply_setpoint=45.0)
    for cfg in (plain, cal):
        v = verdict(rule, cfg, w, T0)
        assert dict(v.annotations)["reference"] == "setpoint"
        assert dict(v.annotations)["setpoint_c"] == "45.0"
        assert "controller wants 45.0" in (v.summary or "")
    assert verdict(rule, cal, window_with(T0, **{**base, "supply_temp": 42.0},
                                          supply_setpoint=45.0), T0).signal is Signal.CLEAR


def test_setback_lowers_the_curves_not_the_controller_setpoint() -> None:
    setback = {"setback_start": "11:00", "setback_end": "13:00", "setback_k": 8}
    cfg = rules(setback, **CURVES)
    rule = SUPPLY_BELOW_CURVE
    base = {"outdoor_temp": 0.0, "supply_temp": 44.0, "return_temp": 34.0, "heat_power": 200.0}
    # curve 50 - 8 = 42: 44 is fine
    assert verdict(rule, cfg, window_with(T0, **base), T0).signal is Signal.CLEAR
    # the controller's 50 already holds its own night reduction: 44 is 6 K short
    v = verdict(rule, cfg, window_with(T0, **base, supply_setpoint=50.0), T0)
    assert v.signal is Signal.FIRE and dict(v.annotations)["setpoint_c"] == "50.0"


def test_idle_station_and_planned_off_never_fire_supply_below_curve() -> None:
    """The controller's setpoint stays high while the station is switched off at night."""
    rule = SUPPLY_BELOW_CURVE
    off = {"outdoor_temp": 0.0, "supply_temp": 30.0, "return_temp": 29.0, "heat_power": 0.0,
           "supply_setpoint": 50.0}
    # idle with no delivering reading seen: switched off as far as anyone knows
    assert verdict(rule, rules(), window_with(T0, **off), T0).signal is Signal.CLEAR
    # idle since a reading that delivered 10 minutes ago is a dip, not a switch-off: judged
    # like a running station; 30 minutes (switch_off_min_s) after it, switched off
    dip = window_with(T0 - 600, **{**off, "heat_power": 200.0})
    dip.observe(T0, dict(off))
    assert verdict(rule, rules(), dip, T0).signal is Signal.FIRE
    assert verdict(rule, rules(), dip, T0 + 1200).signal is Signal.CLEAR
    running = {**off, "heat_power": 200.0, "return_temp": 25.0}
    assert verdict(rule, rules(), window_with(T0, **running), T0).signal is Signal.FIRE
    planned = rules({"off_windows": [{"start": "11:00", "end": "13:00"}]})
    assert verdict(rule, planned, window_with(T0, **running), T0).signal is Signal.CLEAR


def test_return_above_supply_needs_circulation() -> None:
    rule = RETURN_ABOVE_SUPPLY
    cfg = rules()
    swapped = {"primary_supply_temp": 40.0, "primary_return_temp": 60.0}
    # no flow and no heat power: no verdict
    assert verdict(rule, cfg, window_with(T0, **swapped), T0).signal is Signal.HOLD
    # primary flow under the floor: still no verdict; above it: fires
    assert verdict(rule, cfg, window_with(T0, **swapped, primary_flow=0.0),
                   T0).signal is Signal.HOLD
    assert verdict(rule, cfg, window_with(T0, **swapped, primary_flow=5.0),
                   T0).signal is Signal.FIRE
    # without a flow field heat power stands for circulation
    assert verdict(rule, cfg, window_with(T0, **swapped, heat_power=0.5),
                   T0).signal is Signal.HOLD
    assert verdict(rule, cfg, window_with(T0, **swapped, heat_power=200.0),
                   T0).signal is Signal.FIRE
    # secondary pair: flow above pump_stopped's floor
    sec = {"supply_temp": 40.0, "return_temp": 50.0}
    assert verdict(rule, cfg, window_with(T0, **sec, flow=0.0), T0).signal is Signal.HOLD
    assert verdict(rule, cfg, window_with(T0, **sec, flow=8.0), T0).signal is Signal.FIRE
    planned = rules({"off_windows": [{"start": "11:00", "end": "13:00"}]})
    assert verdict(rule, planned, window_with(T0, **sec, flow=8.0), T0).signal is Signal.CLEAR


def test_pump_stopped_without_pump_status() -> None:
    """Absent pump status is unknown: no flow either means no verdict; flow and a collapsed
    supply-return difference still tell a stopped pump, except inside a planned off window."""
    rule = PUMP_STOPPED
    cfg = rules()
    temps = {"supply_temp": 40.0, "return_temp": 39.5}
    assert verdict(rule, cfg, window_with(T0, **temps), T0).signal is Signal.HOLD
    assert verdict(rule, cfg, window_with(T0, **temps, flow=0.0), T0).signal is Signal.FIRE
    assert verdict(rule, cfg, window_with(T0, **temps, flow=9.0), T0).signal is Signal.CLEAR
    planned = rules({"off_windows": [{"start": "11:00", "end": "13:00"}]})
    assert verdict(rule, planned, window_with(T0, **temps, flow=0.0), T0).signal is Signal.CLEAR
    assert verdict(rule, planned, window_with(T0, **temps, pump_running=False),
                   T0).signal is Signal.CLEAR


def test_delivering_from_heat_power_or_supply_return_difference() -> None:
    w = StationWindow("s1", "north")
    w.observe(T0, {"heat_power": 200.0, "supply_temp": 50.0, "return_temp": 49.0})
    assert w.delivering is True and w.resumed_at is None  # power decides, not the difference
    w.observe(T0 + 60, {"heat_power": 2.0})
    assert w.delivering is False and w.idle_since == T0 + 60
    w.observe(T0 + 120, {"supply_temp": -39.9, "return_temp": 30.0})  # a sentinel: no evidence
    assert w.delivering is False
    w.observe(T0 + 1860, {"supply_temp": 45.0, "return_temp": 35.0})
    assert w.delivering is True and w.resumed_at == T0 + 1860 and w.supply_peak == 45.0
    w.observe(T0 + 100, {"heat_power": 0.0})  # out of order: ignored
    assert w.delivering is True


def test_a_setpoint_boost_warms_up_like_a_restart(make_engine: EngineFactory,
                                                  clock: Clock) -> None:
    """The controller steps its target from 48 to 65 °C; supply follows over 45 minutes.
    Without the warm-up that is a supply_below_curve; with it, nothing."""
    def boost(t: float) -> Reading:
        x = t - T0
        setpoint = 48.0 if x < H else 65.0
        supply = 48.0 if x < H else min(65.0, 48.0 + 17.0 * (x - H) / 2700)
        return telemetry("s1", t, outdoor_temp=0.0, supply_setpoint=setpoint,
                         supply_temp=supply, return_temp=supply - 8, heat_power=300.0)

    fast = {"supply_below_curve": {"for_s": 900}}
    script = [(x, [boost(T0 + x)]) for x in range(0, int(3 * H), 300)]
    engine = make_engine(rules(**fast), reg=registry("s1", interval=300))
    assert drive(engine, clock, script) == []
    engine = make_engine(rules({"setpoint_step_k": 30}, **fast), reg=registry("s2"))
    script = [(x, [telemetry("s2", r.ts_ns / 1e9, **r.fields)]) for x, [r] in script]
    events = drive(engine, clock, script)
    assert (H + 900, "supply_below_curve", "firing") in events


def test_a_short_dip_in_heat_power_is_no_restart() -> None:
    """A fault that drops the heat power under delivering_kw for 20 minutes (primary too
    cold) must not count as a switch-off and restart: the warm-up it would start silences
    supply_below_curve for 90 minutes, while the fault goes on (bench/detection.py)."""
    w = StationWindow("s1", "north")
    w.observe(T0, {"heat_power": 200.0})
    w.observe(T0 + 60, {"heat_power": 8.0})
    assert w.delivering is False
    w.observe(T0 + 1260, {"heat_power": 42.0})
    assert w.delivering is True and w.resumed_at is None
    w.observe(T0 + 1320, {"heat_power": 2.0})
    w.observe(T0 + 1320 + 1800, {"heat_power": 250.0})  # off for half an hour: a restart
    assert w.resumed_at == T0 + 3120


def test_a_fault_that_dips_the_heat_power_still_fires_on_time(make_engine: EngineFactory,
                                                              clock: Clock) -> None:
    """The primary turns cold at 12:00 on a cold day: heat power drops under delivering_kw
    for 20 minutes while the supply falls 12 K under its setpoint and stays there. That dip
    is no switch-off, so supply_below_curve fires after its hold, not after the dip and a
    warm-up (found by bench/detection.py's faults_solo: 105 minutes late)."""
    def reading(t: float) -> Reading:
        x = t - T0
        fault = x >= 12 * H
        power = 250.0 if not fault else (8.0 if x < 12 * H + 1200 else 60.0)
        supply = 50.0 if not fault else 38.0
        return telemetry("s1", t, outdoor_temp=-5.0, supply_setpoint=50.0,
                         supply_temp=supply, return_temp=supply - 8, heat_power=power)

    engine = make_engine(rules(), reg=registry("s1", interval=60))
    script = [(x, [reading(T0 + x)]) for x in range(int(11 * H), int(14 * H), 60)]
    events = rule_events(drive(engine, clock, script), "supply_below_curve")
    assert events[:2] == [(12 * H, "pending"), (12 * H + 1800, "firing")]
