"""``sensor_spikes`` step by step on scripted series: what counts as a spike (away faster than
the field's plausible rate and straight back), how many make an alert, the window, per-field
rates, sentinels left to out_of_range, off by default and free when off; then through the
engine, and its pre-screen against its verdict on random windows."""

from __future__ import annotations

from typing import Any

from alert_helpers import T0, Clock, EngineFactory, drive, every, healthy, quiet_rules
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_properties import WINDOW_ARGS, screen_agrees, script_for

from alerts.config import RulesConfig
from alerts.model import Signal, Verdict
from alerts.rules.screen import Screen
from alerts.rules.spikes import SENSOR_SPIKES
from alerts.window import StationWindow
from heatwatch.wire import FieldValue

ON = {"enabled": True, "fields": ["return_temp", "outdoor_temp"], "window_s": 600,
      "min_spikes": 3, "default_max_rate_per_min": 5.0}


def config(**spikes: Any) -> RulesConfig:
    return RulesConfig.model_validate({"defaults": {"sensor_spikes": {**ON, **spikes}}})


def window_of(rules: RulesConfig, series: list[tuple[float, dict[str, FieldValue]]]
              ) -> StationWindow:
    """A station window fed ``series`` of (offset from T0, fields) readings."""
    w = StationWindow("s1", "north", history_fields=rules.rate_fields(), history_len=120)
    for offset, fields in series:
        w.observe(T0 + offset, fields)
    return w


def verdict(rules: RulesConfig, series: list[tuple[float, dict[str, FieldValue]]],
            at: float | None = None) -> Verdict:
    """The rule's verdict at ``at`` (default: the last reading), checked against the
    screen's bit on the same window."""
    w = window_of(rules, series)
    now = T0 + (series[-1][0] if at is None else at)
    rs = rules.params_for("north", "s1")
    v = SENSOR_SPIKES.evaluate(now, w, rs, rules.fields)
    bit = Screen(rs, rules.fields, [SENSOR_SPIKES]).may_fire(w, now)
    assert bool(bit) == (v.signal is Signal.FIRE)
    return v


def steady(n: int, step: float = 10.0, value: float = 40.0) -> list[tuple[float, dict[str,
                                                                                   FieldValue]]]:
    """``n`` readings ``step`` apart, return_temp wandering 0.1 K around ``value``."""
    return [(k * step, {"return_temp": value + (k % 3) / 10}) for k in range(n)]


def spiked(series: list[tuple[float, dict[str, FieldValue]]], at: list[int], size: float,
           field: str = "return_temp") -> list[tuple[float, dict[str, FieldValue]]]:
    """``series`` with ``size`` added to ``field`` at the readings numbered ``at``."""
    out = []
    for k, (t, fields) in enumerate(series):
        v = fields.get(field)
        if k in at and isinstance(v, float):
            fields = {**fields, field: v + size}
        out.append((t, fields))
    return out


def test_off_by_default_and_keeps_no_samples() -> None:
    rules = RulesConfig()
    assert not SENSOR_SPIKES.params(rules.defaults).enabled
    assert rules.rate_fields() == {"return_pressure", "tank_level"}  # the leak rules' only
    assert config().rate_fields() >= {"return_temp", "outdoor_temp"}
    assert config().rate_window_s() == 900.0  # tank_draining's is still the longest


def test_clean_series_is_clear() -> None:
    assert verdict(config(), steady(30)).signal is Signal.CLEAR


def test_one_or_two_spikes_hold_three_fire() -> None:
    rules = config()
    base = steady(30)
    assert verdict(rules, spiked(base, [10], 25.0)).signal is Signal.HOLD
    assert verdict(rules, spiked(base, [10, 15], 25.0)).signal is Signal.HOLD
    v = verdict(rules, spiked(base, [10, 15, 20], 25.0))
    assert v.signal is Signal.FIRE
    assert v.value == 3.0
    assert dict(v.annotations) == {"fields": "return_temp=3", "window_min": "10"}
    # down and back up counts the same
    assert verdict(rules, spiked(base, [5, 12, 25], -25.0)).signal is Signal.FIRE


def test_a_step_that_stays_or_a_fast_ramp_is_no_spike() -> None:
    rules = config()
    # a restart: supply jumps 20 K and stays there, three times over
    stepped = [(k * 10.0, {"return_temp": 40.0 + 20.0 * (k // 8)}) for k in range(30)]
    assert verdict(rules, stepped).signal is Signal.CLEAR
    # climbing 0.5 K per 10 s (3 K/min) is under 5 K/min; up and down at 6 K/min is a zigzag
    # of spikes
    ramp = [(k * 10.0, {"return_temp": 40.0 + 0.5 * k}) for k in range(30)]
    assert verdict(rules, ramp).signal is Signal.CLEAR
    zigzag = [(k * 10.0, {"return_temp": 40.0 + (1.0 if k % 2 else 0.0)}) for k in range(30)]
    assert verdict(rules, zigzag).signal is Signal.FIRE


def test_the_rate_is_per_minute_against_the_neighbours_time() -> None:
    """A 25 K excursion is a spike between readings 10 s apart (150 K/min), not between
    readings an hour apart (0.4 K/min): slow reporting cannot tell a spike from weather."""
    rules = config(window_s=86400)
    assert verdict(rules, spiked(steady(30, step=10.0), [5, 10, 15], 25.0)).signal \
        is Signal.FIRE
    assert verdict(rules, spiked(steady(30, step=3600.0), [5, 10, 15], 25.0)).signal \
        is Signal.CLEAR


def test_per_field_rate() -> None:
    """outdoor_temp gets 0.2 K/min: a 1 K blip between 10 s readings is a spike there; the
    same blip on return_temp (default 5 K/min: 0.83 K in 10 s) is too, a 0.5 K one is not."""
    rules = config(max_rate_per_min={"outdoor_temp": 0.2})
    series = [(k * 10.0, {"return_temp": 40.0, "outdoor_temp": -5.0}) for k in range(30)]
    small = spiked(spiked(series, [5, 10, 15], 0.5, "outdoor_temp"), [5, 10, 15], 0.5)
    v = verdict(rules, small)
    assert v.signal is Signal.FIRE
    assert dict(v.annotations)["fields"] == "outdoor_temp=3"
    big = spiked(series, [5, 10, 15], 1.0)
    assert dict(verdict(rules, big).annotations)["fields"] == "return_temp=3"


def test_window_forgets_old_spikes() -> None:
    rules = config()
    series = spiked(steady(30), [3, 6, 9], 25.0)  # spikes at 30, 60, 90 s
    assert verdict(rules, series).signal is Signal.FIRE  # last reading at 290 s
    # the window is [now - window_s, now]: at 630 s the spike at 30 s is in it, at 631 s not
    assert verdict(rules, series, at=630.0).signal is Signal.FIRE
    assert verdict(rules, series, at=631.0).signal is Signal.HOLD
    assert verdict(rules, series, at=700.0).signal is Signal.CLEAR


def test_sentinels_are_out_of_ranges_business() -> None:
    """A logger flickering to its dead-probe sentinel is no data, not a spike."""
    rules = config()
    series = spiked(steady(30), [5, 10, 15], 0.0)
    series = [(t, {"return_temp": -127.0} if k in (5, 10, 15) else f)
              for k, (t, f) in enumerate(series)]
    assert verdict(rules, series).signal is Signal.CLEAR


def test_non_numbers_are_ignored() -> None:
    rules = config()
    series = steady(30)
    series[10] = (series[10][0], {"return_temp": float("nan")})
    series[12] = (series[12][0], {"return_temp": "x"})
    assert verdict(rules, series).signal is Signal.CLEAR


def test_fires_and_resolves_through_the_engine(make_engine: EngineFactory,
                                               clock: Clock) -> None:
    rules = quiet_rules(defaults={"sensor_spikes": {"enabled": True, "window_s": 300,
                                                    "for_s": 0}})

    def reading(t: float) -> list[Any]:
        k = round((t - T0) / 10)
        return [healthy("s1", t, return_temp=40.0 + (30.0 if k in (5, 10, 15) else 0.0))]

    engine = make_engine(rules)
    events = [e for e in drive(engine, clock, every(0, 800, 10, reading))
              if e[1] == "sensor_spikes"]
    # the third spike is a spike once the reading after it is back (160 s); the first leaves
    # the 300 s window at 350 s (HOLD), the last at 450 s: resolved
    assert events == [(160, "sensor_spikes", "firing"), (460, "sensor_spikes", "resolved")]
    alert = engine.store.alerts(rule="sensor_spikes")[0]
    assert alert.annotations["fields"] == "return_temp=3"


SPIKY = RulesConfig.model_validate({"defaults": {
    "sensor_spikes": {"enabled": True, "fields": ["supply_temp", "return_pressure", "flow"],
                      "max_rate_per_min": {"return_pressure": 0.5}, "min_spikes": 2,
                      "window_s": 120, "default_max_rate_per_min": 20.0}}})


@settings(max_examples=300, deadline=None)
@given(data=st.data(), **WINDOW_ARGS)
def test_screen_agrees_with_the_verdict(
    data: st.DataObject, station: str, design_flow: float | None, history_len: int,
    base: float, later: float, repeat: int, drift: float,
) -> None:
    script: list[tuple[float, dict[str, FieldValue | None], bool]] = data.draw(
        script_for(SPIKY))
    screen_agrees(SPIKY, script, station=station, design_flow=design_flow,
                  history_len=history_len, base=base, later=later, repeat=repeat, drift=drift)
