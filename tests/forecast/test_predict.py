"""Prediction over the planned supply: a switch-off on a cold night is cold by morning."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from alerts.config import HeatingSchedule, OffWindow, RuleSet
from forecast.predict import Change, StationNow, plan_stations, predict, smallest_change
from forecast.thermal import Models

TZ = ZoneInfo("Asia/Shanghai")


def _models(n: int) -> Models:
    """Buildings with a 30 h time constant that hold 21 °C at -15 °C on the default curve
    (51.7 °C supply there)."""
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    a = (b * 36.0 - c) / 30.7
    return Models(station=["S1"] * n, meter=[f"m{i}" for i in range(n)], zone=["z"] * n,
                  a=a, b=b, c=c, err=np.full((n, 12), 0.3, dtype=np.float32),
                  windows=np.full(n, 50), step_s=3600.0, fitted_from=0.0, fitted_to=1.0)


def _rules(off: bool) -> RuleSet:
    heating = HeatingSchedule(
        timezone="Asia/Shanghai", season_start="10-15", season_end="04-15",
        off_windows=(OffWindow(start=dt.time(22), end=dt.time(5)),) if off else ())
    return RuleSet(heating=heating)


def _run(off: bool, night_c: float) -> tuple[np.ndarray, np.ndarray, object]:
    now = dt.datetime(2026, 12, 7, 20, 0, tzinfo=TZ).timestamp()

    def flat_out(zone: str, t: float) -> float:
        # evening -15 °C, the night falls to night_c from 22:00
        local = dt.datetime.fromtimestamp(t, TZ)
        h = local.hour + local.minute / 60 + (24 if local.hour < 12 else 0)
        return -15.0 + (night_c + 15.0) * min(max((h - 21.0) / 4.0, 0.0), 1.0)

    plan = plan_stations([StationNow("S1", "z", _rules(off))], now, flat_out)
    models = _models(3)
    pred = predict(models, np.zeros(3, dtype=np.int64), np.array([21.0, 20.8, 21.3]), plan)
    return pred.temps, pred.ends, pred


def test_switch_off_at_22_on_a_cold_night_is_cold_by_morning() -> None:
    temps, ends, pred = _run(off=True, night_c=-20.0)
    local = [dt.datetime.fromtimestamp(t, TZ) for t in ends]
    at_22 = next(i for i, t in enumerate(local) if t.hour == 22 and t.minute == 0)
    at_05 = next(i for i, t in enumerate(local) if t.hour == 5 and t.minute == 0)
    assert (temps[:, at_22] > 20.0).all()  # still warm when it switches off
    assert (temps[:, at_05] < 18.0).all()  # under the standard before the restart
    first = pred.first_below()  # type: ignore[attr-defined]
    first_local = [dt.datetime.fromtimestamp(t, TZ) for t in first]
    assert all(t.hour < 5 or t.hour >= 22 for t in first_local)
    assert (pred.p_below() > 0.9).all()  # type: ignore[attr-defined]
    # heat comes back at 05:00: the temperature turns up again
    assert (temps[:, at_05 + 4] > temps[:, at_05]).all()
    change = smallest_change(pred, np.arange(3))  # type: ignore[arg-type]
    assert change is not None and change.keep_on and change.raise_k == 0
    assert dt.datetime.fromtimestamp(change.from_t, TZ).hour == 22
    text = change.describe("S1", lambda t: dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M"))
    assert text == "do not switch off S1 at 22:00"


def test_same_night_without_the_switch_off_stays_warm() -> None:
    temps, _, pred = _run(off=False, night_c=-20.0)
    assert (temps >= 18.0).all()
    assert np.isnan(pred.first_below()).all()  # type: ignore[attr-defined]


def test_mild_night_with_the_switch_off_stays_warm() -> None:
    temps, _, _ = _run(off=True, night_c=8.0)
    assert (temps >= 18.0).all()


def test_cold_wave_on_continuous_heating_asks_for_more_supply() -> None:
    """Without a switch-off, a flat starting too cool for a -25 °C night needs a supply raise;
    the change found is the smallest one (in 2 K steps) and it keeps the flat warm."""
    now = dt.datetime(2026, 12, 7, 20, 0, tzinfo=TZ).timestamp()
    plan = plan_stations([StationNow("S1", "z", _rules(False), supply_offset_k=-6.0)], now,
                         lambda z, t: -25.0)
    models = _models(2)
    pred = predict(models, np.zeros(2, dtype=np.int64), np.array([18.6, 19.5]), plan)
    assert not np.isnan(pred.first_below()).all()
    change = smallest_change(pred, np.arange(2))
    assert change is not None and not change.keep_on and change.raise_k > 0
    smaller = Change(raise_k=change.raise_k - 2.0, from_t=plan.times[0])
    from forecast.predict import _rerun, apply_change
    supply, on = apply_change(plan, 0, smaller)
    assert (_rerun(pred, np.arange(2), supply, on) < 18.0).any()
    supply, on = apply_change(plan, 0, change)
    assert (_rerun(pred, np.arange(2), supply, on) >= 18.0).all()


def test_run_through_is_learned_from_the_stations_own_nights() -> None:
    """A station planned off 22:00-05:00 that kept heating on its two coldest nights: the
    threshold lies between those and the nights it switched off, and a night forecast
    colder than it is planned on."""
    from forecast.predict import learn_run_through

    start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=TZ).timestamp()
    times = start + 3600.0 * np.arange(24 * 6)
    night_start = [-5.0, -9.0, -19.0, -7.0, -21.0, -4.0]  # outdoor at 21:00 each day
    outdoor = np.zeros(times.size)
    on = np.ones(times.size)
    rules = _rules(off=True)
    for k, t in enumerate(times):
        local = dt.datetime.fromtimestamp(t, TZ)
        day = (local - dt.datetime(2026, 12, 1, 12, 0, tzinfo=TZ)).days
        outdoor[k] = night_start[min(day, 5)]
        if (local.hour >= 22 or local.hour < 5) and night_start[min(day, 5)] > -15.0:
            on[k] = 0.0
    threshold = learn_run_through(times, on, outdoor, rules)
    assert threshold is not None and -19.0 < threshold < -9.0
    always_off = (~_planned(times)).astype(float)  # switched off every night
    assert learn_run_through(times, always_off, outdoor, rules) is None
    now = dt.datetime(2026, 12, 7, 20, 0, tzinfo=TZ).timestamp()
    plan = plan_stations([StationNow("S1", "z", rules, run_through_below_c=threshold)], now,
                         lambda z, t: -25.0)
    assert (plan.on == 1.0).all()  # a -25 °C night runs through
    plan = plan_stations([StationNow("S1", "z", rules, run_through_below_c=threshold)], now,
                         lambda z, t: -5.0)
    assert (plan.on == 0.0).any()  # a -5 °C night switches off as planned


def _planned(times: np.ndarray) -> np.ndarray:
    from alerts.schedule import planned_off

    rules = _rules(off=True)
    return np.array([planned_off(float(t), rules.heating) for t in times])


def test_the_advice_names_the_planned_switch_off_to_the_minute_or_says_switch_back_on() -> None:
    heating = HeatingSchedule(
        timezone="Asia/Shanghai", season_start="10-15", season_end="04-15",
        off_windows=(OffWindow(start=dt.time(22, 10), end=dt.time(5)),))
    rules = RuleSet(heating=heating)
    fmt = lambda t: dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M")  # noqa: E731
    for hour, expected in ((20, "do not switch off S1 at 22:10"), (23, "switch S1 back on now")):
        now = dt.datetime(2026, 12, 7, hour, 0, tzinfo=TZ).timestamp()
        plan = plan_stations([StationNow("S1", "z", rules)], now, lambda z, t: -22.0)
        start = 21.0 if hour == 20 else 19.5
        pred = predict(_models(2), np.zeros(2, dtype=np.int64), np.array([start, start]), plan)
        change = smallest_change(pred, np.arange(2))
        assert change is not None and change.describe("S1", fmt) == expected
