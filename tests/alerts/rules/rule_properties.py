"""The screen against the rules on random windows: strategies and the check, shared by the
test of every registered rule (``test_rule_declarations.py``) and a rule's own tests (which
call :func:`screen_agrees` with a configuration that reaches its thresholds).

A window is built from a random script of readings (values near thresholds, sentinels,
non-finite numbers, the wrong types, missing fields; optionally a steadily falling pressure
and tank level, and the last reading repeated: stuck sensors) for every field the rules file
can make a rule read, then asked at a random later instant. The screen's bit for a rule must
be set exactly when the rule is enabled and its verdict is FIRE.
"""

from __future__ import annotations

import math
from typing import Any

from alert_helpers import SUMMER, T0
from hypothesis import strategies as st

from alerts.config import RulesConfig
from alerts.model import Signal
from alerts.rules import STATION_RULES
from alerts.rules.screen import Screen
from alerts.window import StationWindow
from heatwatch.wire import FieldValue

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
SCRIPT_STEP = st.floats(min_value=0.0, max_value=90.0)
WINDOW_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "station": st.sampled_from(["s1", "s2"]),
    "design_flow": st.sampled_from([None, 10.0, 80.0]),
    "history_len": st.sampled_from([4, 7, 120]),
    "base": st.sampled_from([T0, SUMMER]),
    "later": st.one_of(st.sampled_from([0.0, 0.5, 5.0]),
                       st.floats(min_value=0.0, max_value=400.0)),
    "repeat": st.integers(min_value=0, max_value=12),
    "drift": st.sampled_from([0.0, 0.002, 0.006, 0.05, 0.12, 0.3]),
}


def script_for(rules: RulesConfig) -> st.SearchStrategy[
        list[tuple[float, dict[str, FieldValue | None], bool]]]:
    """Scripts of readings over every field some rule of ``rules`` can read."""
    fields = sorted(rules.watched_fields() - {rules.fields.status, rules.fields.indoor_temp})
    reading = st.fixed_dictionaries({name: VALUES for name in fields})
    return st.lists(st.tuples(SCRIPT_STEP, reading, st.booleans()), min_size=1, max_size=25)


def screen_agrees(
    rules: RulesConfig, script: list[tuple[float, dict[str, FieldValue | None], bool]], *,
    station: str, design_flow: float | None, history_len: int, base: float, later: float,
    repeat: int, drift: float,
) -> None:
    """Build the window, ask the screen and every station rule, compare."""
    rs = rules.params_for("north", station)
    window = StationWindow(station, "north", design_flow=design_flow, history_len=history_len,
                           history_fields=rules.rate_fields(),
                           delivering_kw=rs.heating.delivering_kw,
                           delivering_dt_k=rs.heating.delivering_dt_k)
    t = base
    pressure, tank = rules.fields.static_pressure, rules.fields.tank_level
    for dt, fields, falling in script:
        t += dt
        if drift and falling:  # pressure and tank level falling at `drift` per minute
            fields = {**fields, pressure: 6.0 - drift * (t - base) / 60,
                      tank: 40.0 - drift * (t - base) / 60}
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
