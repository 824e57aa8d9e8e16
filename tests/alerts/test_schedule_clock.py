"""The schedule's time of day (setback, planned off) against the tz conversion it replaces.

``alerts.schedule`` adds a cached UTC offset instead of converting every instant: these walk
through DST changes of zones with whole-hour, half-hour and 45-minute offsets (and a
half-hour DST shift) and compare with ``datetime.fromtimestamp(...).time()``.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from alerts.config import HeatingSchedule
from alerts.schedule import heating_on, in_setback, planned_off

ZONES = ["Europe/Belgrade", "Asia/Shanghai", "America/St_Johns", "Asia/Kathmandu",
         "Australia/Lord_Howe", "UTC"]


def _expected(now: float, tz: str, start: dt.time, end: dt.time) -> bool:
    t = dt.datetime.fromtimestamp(now, tz=ZoneInfo(tz)).time()
    return (start <= t < end) if start < end else (t >= start or t < end)


def _instants(tz: str, rng: random.Random) -> list[float]:
    """Every 7.5 minutes across each DST change of 2023 (plus random instants)."""
    zone = ZoneInfo(tz)
    out: list[float] = []
    t = dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()
    end = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
    last = dt.datetime.fromtimestamp(t, tz=zone).utcoffset()
    while t < end:  # find the changes hour by hour
        off = dt.datetime.fromtimestamp(t, tz=zone).utcoffset()
        if off != last:
            out.extend(t + k * 450.0 for k in range(-40, 40))
            last = off
        t += 3600
    out.extend(rng.uniform(1.6e9, 1.8e9) for _ in range(2000))
    return out


@pytest.mark.parametrize("tz", ZONES)
def test_setback_and_off_windows_read_the_local_clock(tz: str) -> None:
    rng = random.Random(tz)
    windows = [(dt.time(22), dt.time(5)), (dt.time(1, 30), dt.time(2, 45)),
               (dt.time(2), dt.time(3)), (dt.time(0), dt.time(23, 59, 59))]
    for start, end in windows:
        schedule = HeatingSchedule.model_validate({
            "timezone": tz, "setback_start": start.isoformat(), "setback_end": end.isoformat(),
            "setback_k": 10, "off_windows": [{"start": start.isoformat(),
                                              "end": end.isoformat()}]})
        for now in _instants(tz, rng):
            want = _expected(now, tz, start, end)
            assert in_setback(now, schedule) is want, (tz, start, end, now)
            assert planned_off(now, schedule) is want, (tz, start, end, now)


def test_an_empty_setback_is_never_on() -> None:
    schedule = HeatingSchedule.model_validate({
        "timezone": "Europe/Belgrade", "setback_start": "03:00", "setback_end": "03:00",
        "setback_k": 10})
    assert not any(in_setback(1.7e9 + k * 1234.5, schedule) for k in range(200))


@pytest.mark.parametrize("tz", ZONES)
def test_the_season_reads_the_local_date(tz: str) -> None:
    """heating_on caches its answer for the local day: two schedules asked in turn, at
    instants around the season's first and last days, DST changes and random ones."""
    rng = random.Random(f"season-{tz}")
    seasons = [("10-15", "04-15"), ("01-01", "12-31"), ("03-26", "03-27")]
    schedules = [HeatingSchedule.model_validate({"timezone": tz, "season_start": a,
                                                 "season_end": b}) for a, b in seasons]
    zone = ZoneInfo(tz)
    instants = _instants(tz, rng)
    for month, day in ((10, 15), (4, 15), (4, 16), (3, 26), (3, 28)):
        edge = dt.datetime(2023, month, day, tzinfo=zone).timestamp()
        instants.extend(edge + k * 600.0 for k in range(-30, 30))
    for now in instants:
        local = dt.datetime.fromtimestamp(now, tz=zone)
        today = (local.month, local.day)
        for (a, b), schedule in zip(seasons, schedules, strict=True):
            start = tuple(int(x) for x in a.split("-"))
            end = tuple(int(x) for x in b.split("-"))
            want = start <= today <= end if start <= end else today >= start or today <= end
            assert heating_on(now, schedule) is want, (tz, a, b, local)


def test_two_schedules_asked_in_turn_keep_their_own_answers() -> None:
    zone = "Europe/Belgrade"
    night = HeatingSchedule.model_validate({"timezone": zone, "off_windows": [
        {"start": "22:00", "end": "05:00"}], "setback_start": "21:00", "setback_end": "06:00",
        "setback_k": 5})
    day = HeatingSchedule.model_validate({"timezone": zone, "off_windows": [
        {"start": "10:00", "end": "12:00"}], "setback_start": "09:00", "setback_end": "13:00",
        "setback_k": 5})
    t0 = dt.datetime(2023, 12, 1, tzinfo=ZoneInfo(zone)).timestamp()
    for k in range(0, 3 * 96):
        now = t0 + k * 900.0 + 17.0
        for schedule, (off_a, off_b), (sb_a, sb_b) in (
                (night, (dt.time(22), dt.time(5)), (dt.time(21), dt.time(6))),
                (day, (dt.time(10), dt.time(12)), (dt.time(9), dt.time(13)))):
            assert planned_off(now, schedule) is _expected(now, zone, off_a, off_b)
            assert in_setback(now, schedule) is _expected(now, zone, sb_a, sb_b)
