"""Local times of CSV exports -> instants, across both DST changes (pure unit tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from collector.import_mapping import TimeColumn
from collector.import_time import TimeProblem, TimeReader

BELGRADE = {"column": "t", "format": "%Y-%m-%d %H:%M:%S", "timezone": "Europe/Belgrade"}
# 2023-10-29: clocks go back 03:00 CEST -> 02:00 CET, so 02:00-02:59 happens twice.
FALL_BACK = ["01:45", "02:00", "02:15", "02:30", "02:45", "02:00", "02:15", "02:30", "02:45",
             "03:00", "03:15"]
# 2023-03-26: clocks go forward 02:00 CET -> 03:00 CEST, so 02:00-02:59 does not exist.


def reader(**changes: str) -> TimeReader:
    return TimeReader(TimeColumn.model_validate({**BELGRADE, **changes}))


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


def times(r: TimeReader, clock: list[str], day: str = "2023-10-29") -> list[int]:
    return [r.epoch_ms(f"{day} {hm}:00", "S1") for hm in clock]


def test_fall_back_oldest_first_is_one_monotonic_15_minute_sequence() -> None:
    r = reader()
    ms = times(r, FALL_BACK)
    assert [b - a for a, b in itertools.pairwise(ms)] == [15 * 60_000] * 10
    assert utc(ms[1]) == "00:00" and utc(ms[5]) == "01:00"  # summer, then winter time
    assert r.ambiguous == 8


def test_fall_back_newest_first_is_the_same_instants_reversed() -> None:
    ms = times(reader(), list(reversed(FALL_BACK)))
    assert ms == list(reversed(times(reader(), FALL_BACK)))


def test_fall_back_hourly_rows_stay_in_order_both_ways() -> None:
    hourly = ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"]
    up = times(reader(), hourly)
    assert up == sorted(set(up)) and len(set(up)) == 6
    down = times(reader(), list(reversed(hourly)))
    assert down == sorted(set(down), reverse=True) and sorted(down) == up
    # only one 02:00 row (a logger that writes each wall-clock hour once): no collision
    single = ["01:00", "02:00", "03:00"]
    for order in (single, list(reversed(single))):
        ms = times(reader(), order)
        assert len(set(ms)) == 3 and (ms == sorted(ms) or ms == sorted(ms, reverse=True))


def test_fall_back_with_order_set_explicitly() -> None:
    # the file starts inside the repeated hour: nothing to detect the order from yet
    clock = ["02:30", "02:15", "02:00", "02:45", "02:30"]
    ms = times(reader(order="newest_first"), clock)
    assert ms == sorted(ms, reverse=True) and len(set(ms)) == 5


def test_each_file_and_station_is_its_own_sequence() -> None:
    r = reader()
    a = times(r, ["01:45", "02:00", "02:45"])
    b = [r.epoch_ms(f"2023-10-29 {hm}:00", "S2") for hm in ["03:15", "02:30"]]
    assert a == sorted(a) and b == sorted(b, reverse=True)
    assert utc(b[1]) == "01:30"  # S2 runs newest first: the winter 02:30, just before 03:15
    r.new_file()
    assert times(r, ["02:00"]) == [a[1]]  # no history in the new file: first occurrence


def test_spring_forward_gap_is_rejected_by_default() -> None:
    r = reader()
    with pytest.raises(TimeProblem, match="does not exist in Europe/Belgrade"):
        r.epoch_ms("2023-03-26 02:30:00", "S1")
    assert utc(r.epoch_ms("2023-03-26 01:59:00", "S1")) == "00:59"
    assert utc(r.epoch_ms("2023-03-26 03:00:00", "S1")) == "01:00"


def test_spring_forward_gap_can_be_shifted_forward() -> None:
    r = reader(nonexistent="shift_forward")
    assert utc(r.epoch_ms("2023-03-26 02:30:00", "S1")) == "01:30"  # = 03:30 CEST
    assert r.shifted == 1


def test_plain_days_use_the_zone_offset() -> None:
    r = reader()
    assert utc(r.epoch_ms("2023-01-15 12:00:00", "S1")) == "11:00"  # CET
    assert utc(r.epoch_ms("2023-07-15 12:00:00", "S1")) == "10:00"  # CEST


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("iso", "2023-07-15T12:00:00+02:00", "2023-07-15T10:00:00"),
        ("iso", "2023-07-15 12:00:00", "2023-07-15T10:00:00"),  # no offset: the zone's
        ("iso", "2023-07-15T12:00:00Z", "2023-07-15T12:00:00"),
        ("epoch_s", "1689415200", "2023-07-15T10:00:00"),
        ("epoch_ms", "1689415200000", "2023-07-15T10:00:00"),
        ("%d.%m.%Y %H:%M", "15.07.2023 12:00", "2023-07-15T10:00:00"),
        ("%Y-%m-%d %H:%M:%S%z", "2023-07-15 12:00:00+0100", "2023-07-15T11:00:00"),
    ],
)
def test_formats(fmt: str, text: str, expected: str) -> None:
    ms = reader(format=fmt).epoch_ms(text, "S1")
    assert datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") == expected


@pytest.mark.parametrize(("fmt", "text"), [("%Y-%m-%d %H:%M:%S", "yesterday"),
                                           ("%Y-%m-%d %H:%M:%S", "2023-02-30 12:00:00"),
                                           ("%Y-%m-%d %H:%M:%S", ""),
                                           ("epoch_s", "soon"), ("epoch_s", "nan"),
                                           ("iso", "2023-13-01")])
def test_unparseable_times(fmt: str, text: str) -> None:
    with pytest.raises(TimeProblem):
        reader(format=fmt).epoch_ms(text, "S1")
