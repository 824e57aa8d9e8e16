"""Calibration on simulated stations with known curves, windows and setback recovers them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from calibrate_helpers import TZ, Truth, simulate

from alerts.calibrate import (
    Calibration,
    CalibrationOptions,
    CurveFit,
    StationHistory,
    TooLittleData,
    Window,
    calibrate_station,
    curve_at,
)
from alerts.calibrate_file import merged_rules, offline_timeout, override, render, validate
from alerts.config import CurvePoint, HeatingSchedule, OffWindow, RulesConfig, load_rules
from alerts.rules.outage import offline_timeout as effective_timeout
from alerts.window import StationWindow

START = dt.datetime(2026, 1, 5, tzinfo=TZ)
OPTS = CalibrationOptions(schedule=HeatingSchedule(timezone="Europe/Belgrade"))


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def _off_by(a: dt.time, b: dt.time) -> int:
    d = abs(_minutes(a) - _minutes(b))
    return min(d, 1440 - d)


def _curve_error(points: tuple[tuple[float, float], ...], truth: Truth,
                 h: StationHistory) -> float:
    lo, hi = np.percentile(h.outdoor, [5, 95])
    x = np.linspace(lo, hi, 200)
    return float(np.max(np.abs(curve_at(x, points) - curve_at(x, truth.curve))))


def _calibrate(h: StationHistory) -> tuple[float, Window, Window]:
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]) + 1, OPTS)
    assert len(cal.off_windows) == 1, cal.off_windows
    assert cal.setback is not None
    return _curve_error(cal.curve.points, Truth(), h), cal.off_windows[0], cal.setback.window


@pytest.mark.parametrize(("spacing_s", "days", "power"), [
    (300, 45, True),     # 5-minute data with heat power
    (900, 45, False),    # 15-minute data, on/off from the supply-return difference only
    (3600, 120, True),   # hourly data, like most of the real history
])
def test_recovers_the_known_curve_off_window_and_setback(spacing_s: int, days: int,
                                                         power: bool) -> None:
    truth = Truth()
    h = simulate("S1", START, days, spacing_s=spacing_s, power=power)
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]) + 1, OPTS)
    assert _curve_error(cal.curve.points, truth, h) <= 1.5, cal.curve
    assert cal.curve.rmse < 2.5 and cal.curve.samples > 0 and cal.curve.hours >= 200
    assert len(cal.off_windows) == 1, cal.off_windows
    off = cal.off_windows[0]
    assert _off_by(off.start, truth.off_start) <= 30 and _off_by(off.end, truth.off_end) <= 30
    assert cal.setback is not None
    assert _off_by(cal.setback.window.start, truth.setback_start) <= 30
    assert _off_by(cal.setback.window.end, truth.setback_end) <= 30
    assert abs(cal.setback.k - truth.setback_k) <= 1.5
    assert cal.interval_s == spacing_s
    assert cal.dt_k is not None and abs(cal.dt_k[1] - truth.dt_k) < 1.0
    if spacing_s < 3600:  # an hourly logger cannot time a 40-minute warm-up
        assert cal.warmup_s is not None and 1800 <= cal.warmup_s <= 5400


def test_a_curve_with_a_kink_needs_three_points_and_a_straight_one_two() -> None:
    kinked = simulate("K", START, 45, spacing_s=900)
    straight_truth = Truth(curve=((-10.0, 60.0), (12.0, 38.0)))
    straight = simulate("L", START, 45, spacing_s=900, truth=straight_truth)
    k = calibrate_station(kinked, float(kinked.t[0]), float(kinked.t[-1]), OPTS)
    s = calibrate_station(straight, float(straight.t[0]), float(straight.t[-1]), OPTS)
    assert len(k.curve.points) >= 3
    assert len(s.curve.points) == 2
    assert _curve_error(s.curve.points, straight_truth, straight) <= 1.0


def test_no_off_window_and_no_setback_when_the_station_runs_through() -> None:
    truth = Truth(off_nights=0.0, setback_k=0.0)
    h = simulate("R", START, 30, spacing_s=900, truth=truth)
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
    assert cal.off_windows == () and cal.setback is None
    assert _curve_error(cal.curve.points, truth, h) <= 1.0


def test_controller_setpoint_is_compared_with_the_fitted_curve() -> None:
    h = simulate("P", START, 30, spacing_s=900, setpoint=True)
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
    assert cal.setpoint_diff is not None
    mean, mae, n = cal.setpoint_diff
    assert abs(mean) < 1.0 and mae < 1.5 and n > 500


def test_refuses_too_little_data_and_says_why() -> None:
    h = simulate("L8", START, 6, spacing_s=900)
    with pytest.raises(TooLittleData, match=r"^\d+ heating-hours with outdoor data, need 200$"):
        calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
    no_outdoor = simulate("L9", START, 30, spacing_s=900)
    no_outdoor = StationHistory(**{**{f: getattr(no_outdoor, f) for f in (
        "station", "t", "supply", "ret", "setpoint", "power", "flow", "makeup")},
        "outdoor": np.full(len(no_outdoor), np.nan)})
    with pytest.raises(TooLittleData, match="0 heating-hours"):
        calibrate_station(no_outdoor, float(no_outdoor.t[0]), float(no_outdoor.t[-1]), OPTS)
    summer = simulate("L10", dt.datetime(2026, 6, 10, tzinfo=TZ), 30, spacing_s=900)
    with pytest.raises(TooLittleData):  # outside the heating season nothing counts
        calibrate_station(summer, float(summer.t[0]), float(summer.t[-1]), CalibrationOptions(
            schedule=HeatingSchedule(timezone="Europe/Belgrade", season_start="10-15",
                                     season_end="04-15")))


def test_few_nights_learn_the_curve_but_no_windows() -> None:
    h = simulate("F", START, 12, spacing_s=300)
    opts = CalibrationOptions(schedule=OPTS.schedule, min_nights=20, min_curve_hours=100)
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), opts)
    assert cal.off_windows == () and cal.setback is None
    assert any("heating nights, need 20" in n for n in cal.notes)


def test_learned_offline_timeout_is_not_stretched_by_the_registry() -> None:
    """The registry says hourly, so the default 3 intervals would wait 3 h; the block holds
    the learned 1.5 h whatever the registry says (a two-hour gap must fire)."""
    curve = CurveFit(((-5.0, 50.0), (15.0, 40.0)), 0.0, 0.0, 100, 100, 0.0)
    cal = Calibration(station="L4", start=0.0, end=1.0, curve=curve)
    cal.interval_s = 3600.0
    for registry_s in (3600.0, 900.0, 10.0):
        block = override(cal, RulesConfig().defaults, "UTC", registry_s)
        rules = RulesConfig.model_validate({"stations": {"L4": block}})
        window = StationWindow(station="L4", zone="z", report_interval_s=registry_s)
        assert effective_timeout(window, rules.params_for("z", "L4").station_offline) == 5400


def test_offline_timeout_catches_two_hour_gaps_but_not_normal_spacing() -> None:
    assert offline_timeout(900, 3) == 2700
    assert offline_timeout(180, 3) == 540
    assert offline_timeout(10, 3) == 60
    hourly = offline_timeout(3600, 3)
    assert 3600 < hourly < 7200


def test_the_file_loads_with_load_rules_and_round_trips(tmp_path: Path) -> None:
    cals, overrides = [], {}
    for name, seed in (("L4", 1), ("L12", 2)):
        h = simulate(name, START, 45, spacing_s=900, seed=seed)
        cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
        cals.append(cal)
        overrides[name] = override(cal, RulesConfig().defaults, "Europe/Belgrade")
    text = render(cals, overrides, ["test header"], {"L8": "35 heating-hours with outdoor "
                                                     "data, need 200"})
    assert "# L8: not calibrated: 35 heating-hours with outdoor data, need 200" in text
    assert "RMSE" in text and "heating-hours" in text
    path = tmp_path / "stations.yaml"
    path.write_text(text)
    loaded = load_rules(path)
    assert loaded == validate(text)
    for cal in cals:
        p = loaded.params_for("nis", cal.station)
        assert p.supply_below_curve.calibrated_curve == tuple(
            CurvePoint(outdoor_c=x, supply_c=y) for x, y in cal.curve.points)
        assert p.heating.off_windows == tuple(
            OffWindow(start=w.start, end=w.end) for w in cal.off_windows)
        assert cal.setback is not None and p.heating.setback_k == cal.setback.k
        assert p.heating.setback_start == cal.setback.window.start
        assert p.heating.timezone == "Europe/Belgrade"
        assert p.station_offline.min_timeout_s == 2700
        assert p.heating.warmup_s == cal.warmup_s
    # Layered over an operator's rules: their own station keys survive, ours are added.
    base = RulesConfig.model_validate({"stations": {"L4": {"stuck_sensor": {"enabled": False},
                                                           "heating": {"setback_k": 1.0}}}})
    merged = merged_rules(base, overrides)
    p4 = merged.params_for("nis", "L4")
    assert p4.stuck_sensor.enabled is False
    assert p4.heating.setback_k == cals[0].setback.k if cals[0].setback else 1.0
    assert p4.supply_below_curve.calibrated_curve is not None
    # Writing the merged config back out loads to the same thing.
    again = RulesConfig.model_validate(merged.model_dump(mode="json", exclude_unset=True))
    assert again.params_for("nis", "L12") == merged.params_for("nis", "L12")


def test_make_up_baseline_and_low_supply_return_difference_map_onto_rules() -> None:
    truth = Truth(dt_k=2.5)  # a station that runs on a small difference
    h = simulate("M", START, 30, spacing_s=900, truth=truth)
    rng = np.random.default_rng(3)
    flow = np.full(len(h), 12.0)
    h = dataclasses.replace(h, flow=flow, makeup=flow * rng.uniform(0.025, 0.035, len(h)))
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
    assert cal.makeup_ratio is not None and abs(cal.makeup_ratio[0] - 0.03) < 0.002
    block = override(cal, RulesConfig().defaults, "Europe/Belgrade")
    assert 0.06 <= block["makeup_surge"]["ratio"] <= 0.075
    assert block["makeup_surge"]["recover_ratio"] < block["makeup_surge"]["ratio"]
    assert block["pump_stopped"]["dt_min"] < 2.0
    assert block["heating"]["delivering_dt_k"] < 3.0
    # A station whose make-up is far below the default ratio keeps the default.
    quiet = dataclasses.replace(h, makeup=flow * 0.001)
    cal = calibrate_station(quiet, float(h.t[0]), float(h.t[-1]), OPTS)
    assert "makeup_surge" not in override(cal, RulesConfig().defaults, "Europe/Belgrade")


def test_refuses_a_station_that_cannot_tell_on_from_off() -> None:
    h = simulate("N", START, 30, spacing_s=900, power=False)
    h = dataclasses.replace(h, ret=np.full(len(h), np.nan))
    with pytest.raises(TooLittleData, match="no heat_power or return_temp"):
        calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)


def test_delivering_kw_is_only_ever_raised() -> None:
    small = simulate("P1", START, 30, spacing_s=900)  # 300 kW when on: 5 % is 15 kW
    cal = calibrate_station(small, float(small.t[0]), float(small.t[-1]), OPTS)
    assert cal.delivering_kw is not None and 10 < cal.delivering_kw < 20
    assert "delivering_kw" not in override(cal, RulesConfig().defaults, "UTC")["heating"]
    big = dataclasses.replace(small, power=small.power * 10)  # 3 MW: 30 kW is nothing
    cal = calibrate_station(big, float(big.t[0]), float(big.t[-1]), OPTS)
    assert override(cal, RulesConfig().defaults, "UTC")["heating"]["delivering_kw"] > 100


def test_off_window_ends_when_heat_is_owed_on_nearly_every_night() -> None:
    """70 % of nights restart at 05:00, 30 % at 06:00: most nights are on at 05:00, but heat
    is owed (heating_not_resumed counts) only from 06:00."""
    early = simulate("E", START, 28, spacing_s=900, truth=Truth(off_nights=1.0, setback_k=0.0))
    late_truth = Truth(off_nights=1.0, setback_k=0.0, off_end=dt.time(6, 0))
    late = simulate("E", START + dt.timedelta(days=28), 12, spacing_s=900, truth=late_truth,
                    seed=5)
    h = StationHistory(station="E", **{
        f: np.concatenate((getattr(early, f), getattr(late, f))) for f in (
            "t", "outdoor", "supply", "ret", "setpoint", "power", "flow", "makeup")})
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), OPTS)
    assert [(w.start, w.end) for w in cal.off_windows] == [(dt.time(23, 0), dt.time(6, 0))]
    strict = CalibrationOptions(schedule=OPTS.schedule, resume_share=0.5)
    cal = calibrate_station(h, float(h.t[0]), float(h.t[-1]), strict)
    assert [(w.start, w.end) for w in cal.off_windows] == [(dt.time(23, 0), dt.time(5, 0))]
