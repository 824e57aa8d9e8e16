"""The engine's fast path against the rules themselves, on random windows (hypothesis).

``Screen.may_fire`` decides which station rules the engine evaluates at all, so a rule that
would say FIRE must always get its bit; the screen is also exact today (no bit for a rule that
would not fire), which is what makes it cheap, and that is checked as well.
"""

from __future__ import annotations

import math

from alert_helpers import SUMMER, T0
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.config import RulesConfig
from alerts.model import Signal
from alerts.rules import STATION_RULES
from alerts.rules.screen import Screen
from alerts.window import StationWindow
from heatwatch.wire import FieldValue


CONFIGS = [
    RulesConfig(),
    RulesConfig.model_validate({
        "defaults": {
            "heating": {"timezone": "UTC", "setback_start": "11:00", "setback_end": "13:00",
                        "setback_k": 4},
            "pressure_drop": {"window_s": 120, "floor_bar": 1.5, "recover_bar": 1.8},
            "tank_draining": {"window_s": 60},
            "stuck_sensor": {"stuck_after_s": 30, "min_samples": 3},
            "out_of_range": {"ranges": {"outdoor_temp": {"min": -50, "max": 50},
                                        "flow": {"min": 0, "max": 20},
                                        "return_pressure": {"min": 0, "max": 16}},
                             "sentinels": [-39.9, 7.5, 327.67]},
            "return_above_supply": {"margin_k": 0.0},
            "supply_below_curve": {"curve": [{"outdoor_c": -25, "supply_c": 70},
                                             {"outdoor_c": -5, "supply_c": 52},
                                             {"outdoor_c": 12, "supply_c": 30}]},
        },
        "stations": {"s2": {"makeup_surge": {"enabled": False},
                            "pump_stopped": {"flow_min": 3.0}}},
    }),
    # heating regimes: an off window around T0 (12:00 UTC) so windows are entered, left and
    # warmed up from; short clocks so heating_not_resumed and the warm-up both end in a script
    RulesConfig.model_validate({
        "defaults": {
            "heating": {"timezone": "UTC", "off_windows": [{"start": "11:50", "end": "12:10"},
                                                           {"start": "23:00", "end": "01:00"}],
                        "warmup_s": 600, "delivering_kw": 40, "delivering_dt_k": 2.0,
                        "setback_start": "12:05", "setback_end": "12:20", "setback_k": 6},
            "heating_not_resumed": {"after_window_s": 60, "unplanned_s": 300,
                                    "max_outdoor_c": 20},
            "return_above_supply": {"primary_flow_min": 1.0},
        },
        "stations": {"s2": {"supply_below_curve": {"calibrated_curve": [
            {"outdoor_c": -10, "supply_c": 60}, {"outdoor_c": 10, "supply_c": 38}]},
            "heating": {"off_windows": []}}},
    }),
]

# values near every threshold, sentinels, non-finite, and the wrong types
NUMBERS = st.one_of(
    st.sampled_from([0.0, 0.05, 0.1, 0.99, 1.0, 1.2, 1.5, 2.0, 7.5, 7.5004, 10.0, 16.0, 16.5,
                     -39.9, -39.9002, -127.0, 327.67, -327.68, 999.9, 30.0, 35.0, 40.0, 55.0,
                     -10.0, -20.0, 120.0, 150.0, 5000.0, math.nan, math.inf, -math.inf]),
    st.floats(min_value=-60, max_value=130, allow_nan=False),
    st.integers(min_value=-5, max_value=60),
)
VALUES: st.SearchStrategy[FieldValue | None] = st.one_of(
    st.none(), NUMBERS, NUMBERS, NUMBERS, st.booleans(), st.sampled_from(["on", "off", "x"]),
)
FIELDS = ["primary_supply_temp", "primary_return_temp", "supply_temp", "return_temp", "flow",
          "supply_pressure", "return_pressure", "tank_level", "makeup_flow", "outdoor_temp",
          "power_ok", "pump_running", "supply_setpoint", "heat_power", "primary_flow"]
READING = st.fixed_dictionaries({name: VALUES for name in FIELDS})
SCRIPT = st.lists(st.tuples(st.floats(min_value=0.0, max_value=90.0), READING, st.booleans()),
                  min_size=1, max_size=25)


@settings(max_examples=600, deadline=None)
@given(
    script=SCRIPT,
    config=st.sampled_from(range(len(CONFIGS))),
    station=st.sampled_from(["s1", "s2"]),
    design_flow=st.sampled_from([None, 10.0, 80.0]),
    history_len=st.sampled_from([4, 7, 120]),
    base=st.sampled_from([T0, SUMMER]),
    later=st.one_of(st.sampled_from([0.0, 0.5, 5.0]), st.floats(min_value=0.0, max_value=400.0)),
    repeat=st.integers(min_value=0, max_value=12),
    drift=st.sampled_from([0.0, 0.002, 0.006, 0.05, 0.12, 0.3]),
)
def test_screen_flags_exactly_the_rules_that_fire(
    script: list[tuple[float, dict[str, FieldValue | None], bool]], config: int, station: str,
    design_flow: float | None, history_len: int, base: float, later: float, repeat: int,
    drift: float,
) -> None:
    rules = CONFIGS[config]
    rs = rules.params_for("north", station)
    window = StationWindow(station, "north", design_flow=design_flow, history_len=history_len,
                           history_fields=frozenset({"return_pressure", "tank_level"}),
                           delivering_kw=rs.heating.delivering_kw,
                           delivering_dt_k=rs.heating.delivering_dt_k)
    t = base
    for dt, fields, falling in script:
        t += dt
        if drift and falling:  # pressure and tank level falling at `drift` per minute
            fields = {**fields, "return_pressure": 6.0 - drift * (t - base) / 60,
                      "tank_level": 40.0 - drift * (t - base) / 60}
        window.observe(t, {k: v for k, v in fields.items() if v is not None})
    for _ in range(repeat):  # the last reading again and again: stuck sensors
        t += 10.0
        window.observe(t, {k: v for k, v in script[-1][1].items() if v is not None})
    now = t + later
    mask = Screen(rs, rules.fields, STATION_RULES).may_fire(window, now)
    for i, rule in enumerate(STATION_RULES):
        fires = (rule.params(rs).enabled
                 and rule.evaluate(now, window, rs, rules.fields).signal is Signal.FIRE)
        assert bool(mask & (1 << i)) == fires, rule.name
