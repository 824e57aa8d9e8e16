"""Ledger arithmetic: time weighting, the max gap, midnight, DST days, refund bands."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from households.ledger import (
    NO_DATA,
    WARM,
    LedgerParams,
    RefundBand,
    band_of,
    comfort_day,
    day_bounds,
    days_between,
    tally,
)

BELGRADE = ZoneInfo("Europe/Belgrade")
SHENYANG = ZoneInfo("Asia/Shanghai")
H = 3600.0


def local(tz: ZoneInfo, *args: int) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def series(start: float, end: float, step: float, value: float) -> list[tuple[float, float]]:
    out, t = [], start
    while t < end:
        out.append((t, value))
        t += step
    return out


def test_day_bounds_are_local_midnights_with_dst_lengths() -> None:
    assert day_bounds(date(2026, 1, 15), SHENYANG) == (
        local(SHENYANG, 2026, 1, 15), local(SHENYANG, 2026, 1, 16))
    a, b = day_bounds(date(2026, 3, 29), BELGRADE)  # clocks forward at 02:00
    assert (b - a) / H == 23
    a, b = day_bounds(date(2026, 10, 25), BELGRADE)  # clocks back at 03:00
    assert (b - a) / H == 25
    a, b = day_bounds(date(2026, 10, 26), BELGRADE)
    assert (b - a) / H == 24


def test_days_between_lists_local_days_starting_in_range() -> None:
    start = local(BELGRADE, 2026, 10, 24)
    end = local(BELGRADE, 2026, 10, 27)
    assert days_between(start, end, BELGRADE) == [
        date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    assert days_between(start + 1, end, BELGRADE) == [date(2026, 10, 25), date(2026, 10, 26)]


def test_time_weighted_not_reading_weighted() -> None:
    # warm (21 °C) for 12 h reported hourly, cold (16 °C) for 12 h reported every minute
    a, b = day_bounds(date(2026, 1, 15), SHENYANG)
    samples = series(a, a + 12 * H, H, 21.0) + series(a + 12 * H, b, 60.0, 16.0)
    day = comfort_day(samples, date(2026, 1, 15), SHENYANG)
    assert day.hours == 24
    assert day.hours_data == pytest.approx(24.0)
    assert day.hours_below == pytest.approx(12.0)
    assert day.hours_critical == 0
    assert day.mean_c == pytest.approx(18.5)
    assert day.min_c == 16.0
    assert day.band == WARM and day.share == 0


def test_a_gap_longer_than_max_gap_is_no_data() -> None:
    a, _ = day_bounds(date(2026, 1, 15), SHENYANG)
    # readings every 5 min until 06:00, then one at 06:00 and silence until 20:00, then again
    samples = [*series(a, a + 6 * H, 300, 15.0), (a + 6 * H, 15.0),
               *series(a + 20 * H, a + 24 * H, 300, 15.0)]
    t = tally(samples, a, a + 24 * H, LedgerParams(max_gap_s=1800))
    # 6 h + the 06:00 reading's 30 min + 4 h
    assert t.hours_data == pytest.approx(10.5)
    assert t.hours_below == pytest.approx(10.5)
    day = comfort_day(samples, date(2026, 1, 15), SHENYANG, LedgerParams(max_gap_s=1800))
    assert day.band == NO_DATA and day.share == 0  # 10.5 of 24 h < 75 %
    assert day.mean_c == 15.0  # still reported, for the record


def test_a_reading_before_midnight_counts_into_the_day_up_to_max_gap() -> None:
    a, b = day_bounds(date(2026, 1, 15), SHENYANG)
    # one reading at 23:50 the day before (12 °C), then 17 °C from 00:20 on, every 10 min
    samples = [(a - 600, 12.0), *series(a + 1200, b + 3 * H, 600, 17.0)]
    p = LedgerParams(max_gap_s=3600)
    day = comfort_day(samples, date(2026, 1, 15), SHENYANG, p)
    # 23:50's reading holds until 00:20: 20 min of the day at 12 °C; no data lost at midnight
    assert day.hours_data == pytest.approx(24.0)
    assert day.hours_critical == pytest.approx(1 / 3)
    assert day.min_c == 12.0
    # and the reading at 23:50 of this day holds only until midnight (the next day's share)
    assert day.hours_below == pytest.approx(24.0)
    assert day.mean_c == pytest.approx((12 * 20 + 17 * (24 * 60 - 20)) / (24 * 60))
    assert day.band == "half" and day.share == 0.5


def test_readings_after_the_day_do_not_count() -> None:
    a, b = day_bounds(date(2026, 1, 15), SHENYANG)
    samples = series(a, b, 600, 20.0) + series(b, b + 6 * H, 600, 5.0)
    day = comfort_day(samples, date(2026, 1, 15), SHENYANG)
    assert day.hours_critical == 0 and day.min_c == 20.0


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_dst_days_count_their_real_hours(day: date, hours: int) -> None:
    a, b = day_bounds(day, BELGRADE)
    # cold from local 01:00 to local 05:00 wall clock: across the change, 3 or 5 real hours
    cold_from, cold_to = (local(BELGRADE, day.year, day.month, day.day, 1),
                          local(BELGRADE, day.year, day.month, day.day, 5))
    samples = [(t, 15.0 if cold_from <= t < cold_to else 20.0) for t, _ in series(a, b, 300, 0)]
    c = comfort_day(samples, day, BELGRADE)
    assert c.hours == hours
    assert c.hours_data == pytest.approx(hours)
    assert c.hours_below == pytest.approx(hours - 20)  # 4 wall-clock hours: 3 real, or 5
    assert c.band == WARM


def test_min_data_share_scales_with_the_dst_day() -> None:
    day = date(2026, 3, 29)  # 23 h
    a, _ = day_bounds(day, BELGRADE)
    p = LedgerParams(max_gap_s=300)  # each reading covers exactly its 5 minutes
    samples = series(a, a + 17.25 * H, 300, 10.0)  # 17.25 h = 75 % of 23 h
    assert comfort_day(samples, day, BELGRADE, p).band == "full"
    samples = series(a, a + 17 * H, 300, 10.0)
    assert comfort_day(samples, day, BELGRADE, p).band == NO_DATA


def test_nan_counts_as_no_data() -> None:
    a, b = day_bounds(date(2026, 1, 15), SHENYANG)
    samples = series(a, b, 600, 19.0)
    samples[10] = (samples[10][0], float("nan"))
    t = tally(samples, a, b)
    assert t.hours_data == pytest.approx(24 - 1 / 6)
    assert t.mean_c == pytest.approx(19.0)


def test_a_season_of_samples_judged_day_by_day() -> None:
    """Days cut from one long series equal days from their own samples."""
    first = date(2026, 1, 10)
    a, _ = day_bounds(first, SHENYANG)
    samples = [(t, 15.0 + (t // H) % 7) for t, _ in series(a - H, a + 10 * 86400, 900, 0)]
    for k in range(10):
        day = date(2026, 1, 10 + k)
        start, end = day_bounds(day, SHENYANG)
        own = [s for s in samples if start - H <= s[0] < end]
        assert comfort_day(samples, day, SHENYANG) == comfort_day(own, day, SHENYANG)


def test_empty_day_is_no_data() -> None:
    c = comfort_day([], date(2026, 1, 15), SHENYANG)
    assert (c.band, c.hours_data, c.mean_c, c.min_c) == (NO_DATA, 0.0, None, None)


@pytest.mark.parametrize(("mean", "band", "share"), [
    (18.0, WARM, 0.0), (17.99, "half", 0.5), (13.0, "half", 0.5), (12.99, "full", 1.0),
    (-5.0, "full", 1.0)])
def test_shenyang_bands(mean: float, band: str, share: float) -> None:
    assert band_of(mean, True) == (band, share)
    assert band_of(mean, False) == (NO_DATA, 0.0)


def test_bands_are_configurable_and_order_free() -> None:
    bands = [RefundBand(name="full", below_c=12, share=1.0),
             RefundBand(name="quarter", below_c=20, share=0.25),
             RefundBand(name="half", below_c=16, share=0.5)]
    assert band_of(19.0, True, bands) == ("quarter", 0.25)
    assert band_of(15.0, True, bands) == ("half", 0.5)
    assert band_of(11.0, True, bands) == ("full", 1.0)
    assert band_of(20.0, True, bands) == (WARM, 0.0)


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="critical_c must be <= standard_c"):
        LedgerParams(standard_c=16, critical_c=17)
    with pytest.raises(ValidationError, match="reserved"):
        RefundBand(name="warm", below_c=18, share=0.5)
    with pytest.raises(ValidationError):
        LedgerParams(max_gap_s=0)
