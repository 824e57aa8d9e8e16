"""flat_cold and flat_sensor step by step on scripted indoor series (pure: no engine)."""

from __future__ import annotations

import math

import pytest

from alerts.flats import FlatBook, FlatInfo, FlatState, StationView
from alerts.model import Severity, Signal
from alerts.rules.flat import FlatCold, FlatSensor, flat_cold_verdict, flat_sensor_verdict

T0 = 1_768_000_000.0
STEP = 300.0  # a flat reports every 5 min
COLD = FlatCold()
SENSOR = FlatSensor()
NORMAL = StationView(delivering=True, deficit_k=0.5)


class Book:
    """A FlatBook with a fixed (or scripted) standard, and the judgement the engine makes."""

    def __init__(self, standard: float = 18.0, cold: FlatCold = COLD,
                 sensor: FlatSensor = SENSOR) -> None:
        self.standard = standard
        self.cold, self.sensor = cold, sensor
        self.book = FlatBook(lambda _station, _ts: (self.cold, self.sensor, self.standard))

    def feed(self, meter: str, ts: float, value: float, station: str = "st-1") -> None:
        self.book.observe(station, meter, ts, value)

    def flat(self, meter: str, station: str = "st-1") -> FlatState:
        flat = self.book.flat(station, meter)
        assert flat is not None
        return flat

    def cold_verdict(self, meter: str, now: float, view: StationView = NORMAL) -> Signal:
        flat = self.flat(meter)
        if flat.level < self.standard:
            self.book.check_neighbours(flat, self.sensor, view.delivering)
        return flat_cold_verdict(now, flat, self.cold, self.standard, True, FlatInfo(),
                                 view).signal


def series(b: Book, meter: str, values: list[float], start: float = T0) -> float:
    """Feed one reading per STEP; returns the time of the last one."""
    t = start
    for i, v in enumerate(values):
        t = start + i * STEP
        b.feed(meter, t, v)
    return t


def test_one_low_reading_starts_nothing() -> None:
    b = Book()
    t = series(b, "f1", [21.0, 21.1, 9.0, 21.0, 20.9])
    flat = b.flat("f1")
    assert flat.cold_since is None
    assert flat.level == pytest.approx(20.9)  # median of 9.0, 21.0, 20.9
    assert b.cold_verdict("f1", t + 3 * 3600) is Signal.CLEAR


def test_cold_flat_fires_exactly_after_the_hold_from_the_first_low_reading() -> None:
    b = Book()
    t = series(b, "f1", [21.0] * 5)
    first_low = t + STEP
    series(b, "f1", [16.0] * 3, start=first_low)
    flat = b.flat("f1")
    assert flat.cold_since == first_low  # backdated behind the median's lag
    # just before the hold: not yet
    assert b.cold_verdict("f1", first_low + COLD.hold_s - 1) is Signal.HOLD
    # the timer wakes the flat at the hold even without a new reading
    b.book.dirty.clear()
    assert flat in b.book.due(first_low + COLD.hold_s)
    v = flat_cold_verdict(first_low + COLD.hold_s, flat, COLD, 18.0, True,
                          FlatInfo(floor=9, top_floor=True), NORMAL)
    assert v.signal is Signal.FIRE
    assert v.severity is Severity.WARNING
    ann = dict(v.annotations)
    assert ann["floor"] == "9" and ann["top_floor"] == "yes"
    assert ann["station_state"] == "normal"
    assert ann["hours"] == "2.0" and ann["level_c"] == "16.0"
    assert "crew visit" in v.summary and "top floor" in v.summary


def test_open_window_dip_never_lasts_the_hold() -> None:
    b = Book()
    # 10 minutes open: the air drops 6 K and takes half an hour to come back
    dip = [21.0, 21.0, 15.0, 14.8, 16.5, 18.4, 19.9, 20.6, 21.0, 21.0]
    t = series(b, "f1", dip)
    for k in range(len(dip)):
        assert b.cold_verdict("f1", T0 + k * STEP) is not Signal.FIRE
    assert b.flat("f1").cold_since is None
    assert b.cold_verdict("f1", t + 4 * 3600) is Signal.CLEAR


def test_hysteresis_keeps_a_cold_run_inside_the_band_and_clears_above_it() -> None:
    b = Book()
    t = series(b, "f1", [17.0] * 30)  # 2.5 h cold
    assert b.cold_verdict("f1", t) is Signal.FIRE
    t = series(b, "f1", [18.2] * 3, start=t + STEP)
    assert b.cold_verdict("f1", t) is Signal.HOLD  # between 18 and 18.5: carries on
    assert b.flat("f1").cold_since == T0
    t = series(b, "f1", [17.5] * 3, start=t + STEP)
    assert b.cold_verdict("f1", t) is Signal.FIRE  # the same run, no new hold
    t = series(b, "f1", [18.6] * 3, start=t + STEP)
    assert b.cold_verdict("f1", t) is Signal.CLEAR
    assert b.flat("f1").cold_since is None


def test_critical_band_under_13() -> None:
    b = Book()
    t = series(b, "f1", [12.4] * 26)
    flat = b.flat("f1")
    v = flat_cold_verdict(t, flat, COLD, 18.0, True, FlatInfo(), NORMAL)
    assert v.signal is Signal.FIRE and v.severity is Severity.CRITICAL


def test_night_standard_is_the_one_in_force_at_each_reading() -> None:
    b = Book(standard=16.0)  # the night standard
    t = series(b, "f1", [17.0] * 30)
    assert b.flat("f1").cold_since is None
    assert b.cold_verdict("f1", t) is Signal.CLEAR
    b.standard = 18.0  # morning: the day standard applies from the next reading
    t = series(b, "f1", [17.0] * 2, start=t + STEP)
    assert b.flat("f1").cold_since is not None
    assert b.cold_verdict("f1", t) is Signal.HOLD


def test_out_of_season_nothing_is_owed() -> None:
    b = Book()
    t = series(b, "f1", [15.0] * 30)
    flat = b.flat("f1")
    assert flat_cold_verdict(t, flat, COLD, 18.0, False, FlatInfo(), NORMAL).signal \
        is Signal.CLEAR


def test_sentinel_is_a_sensor_alert_not_a_cold_flat() -> None:
    b = Book()
    t = series(b, "f1", [21.0] * 3 + [-127.0] * 30)
    flat = b.flat("f1")
    assert flat.sensor == "sentinel"
    assert flat.level == pytest.approx(21.0)  # sentinels are not data
    assert b.cold_verdict("f1", t) is Signal.HOLD
    v = flat_sensor_verdict(flat, SENSOR)
    assert v.signal is Signal.FIRE and dict(v.annotations)["reason"] == "sentinel"
    series(b, "f1", [21.0], start=t + STEP)
    flat = b.flat("f1")
    assert not flat.sensor and flat_sensor_verdict(flat, SENSOR).signal is Signal.CLEAR


def test_stuck_sensor_after_six_hours_of_the_same_value() -> None:
    b = Book()
    n = int(SENSOR.stuck_after_s / STEP)
    series(b, "f1", [20.53] * n)
    assert b.flat("f1").sensor == ""
    series(b, "f1", [20.53], start=T0 + n * STEP)
    assert b.flat("f1").sensor == "stuck"
    assert flat_sensor_verdict(b.flat("f1"), SENSOR).signal is Signal.FIRE


def _neighbours(b: Book, t: float, n: int = 4, value: float = 20.5) -> None:
    for i in range(n):
        for k in range(3):
            b.feed(f"n{i}", t + k * STEP, value + 0.1 * i)


def test_far_below_every_neighbour_while_delivering_is_a_sensor_alert() -> None:
    b = Book()
    _neighbours(b, T0)
    t = series(b, "f1", [6.0] * 30)
    assert b.cold_verdict("f1", t) is Signal.HOLD
    flat = b.flat("f1")
    assert flat.sensor == "below_neighbours" and flat.suspect
    assert flat_sensor_verdict(flat, SENSOR).signal is Signal.FIRE
    # the station switches off for the night: nothing to compare against, still no page
    idle = StationView(delivering=False)
    t = series(b, "f1", [6.0] * 30, start=t + STEP)
    assert b.cold_verdict("f1", t, idle) is Signal.HOLD
    # back within the gap (and above the standard): the suspicion ends
    series(b, "f1", [20.0] * 3, start=t + STEP)
    assert not flat.suspect and flat.sensor == ""


def test_cold_flat_among_warm_neighbours_is_cold_not_a_sensor() -> None:
    b = Book()
    _neighbours(b, T0)
    t = series(b, "f1", [15.0] * 30)  # radiator air lock: 5 K under its neighbours
    assert b.cold_verdict("f1", t) is Signal.FIRE
    assert b.flat("f1").sensor == ""


def test_far_below_neighbours_while_the_station_is_idle_is_judged_cold() -> None:
    """No delivering, no comparison: the neighbours may all be cooling."""
    b = Book()
    _neighbours(b, T0)
    t = series(b, "f1", [6.0] * 30)
    assert b.cold_verdict("f1", t, StationView(delivering=False)) is Signal.FIRE


def test_too_few_neighbours_no_comparison() -> None:
    b = Book()
    _neighbours(b, T0, n=2)
    t = series(b, "f1", [6.0] * 30)
    assert b.cold_verdict("f1", t) is Signal.FIRE


def test_station_view_states() -> None:
    assert StationView(delivering=True, deficit_k=1.0).state == "normal"
    assert StationView(delivering=True, deficit_k=9.0).state == "under_supply"
    assert StationView(delivering=False).state == "idle"
    assert StationView(delivering=None).state == "unknown"
    assert StationView(delivering=True, firing=("supply_below_curve",)).state == "station_alert"


def test_warm_flats_are_not_dirty_and_old_readings_are_ignored() -> None:
    b = Book()
    series(b, "f1", [21.0] * 3)
    b.book.dirty.clear()
    series(b, "f1", [21.2] * 5, start=T0 + 3 * STEP)
    assert not b.book.dirty
    b.feed("f1", T0, 5.0)  # older than the newest: ignored
    assert b.flat("f1").level == pytest.approx(21.2)


def test_timer_of_an_ended_cold_run_does_not_wake_the_flat() -> None:
    b = Book()
    t = series(b, "f1", [16.0] * 3)
    series(b, "f1", [20.0] * 3, start=t + STEP)
    b.book.dirty.clear()
    assert not b.book.due(T0 + COLD.hold_s + 1)
    assert b.book.next_timer() == math.inf


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="odd"):
        FlatCold(median_of=4).check()
    with pytest.raises(ValueError, match="critical_c"):
        FlatCold(critical_c=19).check()
