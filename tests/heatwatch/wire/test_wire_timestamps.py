"""Timestamps: RFC 3339 strings kept to the nanosecond, epoch seconds vs milliseconds, limits."""

from __future__ import annotations

import pytest

from heatwatch.wirefields import MIN_TS_NS, MS_CUTOFF, Invalid, Reason, parse_timestamp

NOW_NS = 1795953600 * 10**9  # 2026-11-29T12:00:00Z
MAX_NS = NOW_NS + 300 * 10**9


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-11-29T12:00:00Z", NOW_NS),
        ("2026-11-29t12:00:00z", NOW_NS),
        ("2026-11-29 12:00:00Z", NOW_NS),
        ("2026-11-29T13:00:00+01:00", NOW_NS),
        ("2026-11-29T06:30:00-05:30", NOW_NS),
        ("2026-11-29T12:00:00-00:00", NOW_NS),
        ("2026-11-29T12:00:00.1Z", NOW_NS + 100_000_000),
        ("2026-11-29T12:00:00.123Z", NOW_NS + 123_000_000),
        ("2026-11-29T12:00:00.123456Z", NOW_NS + 123_456_000),
        ("2026-11-29T12:00:00.123456789Z", NOW_NS + 123_456_789),
        ("2026-11-29T11:59:60Z", NOW_NS),  # a leap second reads as the next second
        ("2000-01-01T00:00:00Z", MIN_TS_NS),
        ("2024-02-29T00:00:00Z", 1709164800 * 10**9),
    ],
)
def test_rfc3339(text: str, ns: int) -> None:
    assert parse_timestamp(text, MAX_NS) == ns


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1795953600, NOW_NS),
        (1795953600.5, NOW_NS + 500_000_000),
        (1795953600.123456, NOW_NS + 123_456_000),
        (1795953600123, NOW_NS + 123_000_000),
        (1795953600123.5, NOW_NS + 123_500_000),
        (946684800, MIN_TS_NS),
        (MS_CUTOFF, MS_CUTOFF * 10**6),  # the cutoff itself is milliseconds (1973 -> too old)
    ],
)
def test_epoch_numbers(value: float, ns: int) -> None:
    if ns < MIN_TS_NS:
        with pytest.raises(Invalid) as exc:
            parse_timestamp(value, MAX_NS)
        assert exc.value.reason is Reason.BAD_TIMESTAMP
    else:
        assert parse_timestamp(value, MAX_NS) == ns


def test_millisecond_integers_are_exact() -> None:
    for ms in range(1795953599000, 1795953600001, 7):
        assert parse_timestamp(ms, MAX_NS) == ms * 1_000_000


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-29T12:00:00", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00:00.1234567890Z", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00Z", Reason.BAD_TIMESTAMP),
        ("2026-13-01T00:00:00Z", Reason.BAD_TIMESTAMP),
        ("2026-11-31T00:00:00Z", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:60:00Z", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00:61Z", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00:00+24:00", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00:00+01:60", Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:00:00+0100", Reason.BAD_TIMESTAMP),
        ("２０２６-11-29T12:00:00Z", Reason.BAD_TIMESTAMP),  # full-width digits
        (" 2026-11-29T12:00:00Z", Reason.BAD_TIMESTAMP),
        ("1999-12-31T23:59:59.999Z", Reason.BAD_TIMESTAMP),
        (-1.7976931348623157e308, Reason.BAD_TIMESTAMP),
        (1.7976931348623157e308, Reason.FUTURE_TIMESTAMP),
        (float("nan"), Reason.NOT_FINITE),
        (float("inf"), Reason.NOT_FINITE),
        (True, Reason.BAD_TIMESTAMP),
        (None, Reason.BAD_TIMESTAMP),
        ([1795953600], Reason.BAD_TIMESTAMP),
        ("2026-11-29T12:05:00.000000001Z", Reason.FUTURE_TIMESTAMP),
        (1795953900001, Reason.FUTURE_TIMESTAMP),
        (17959536000000000, Reason.FUTURE_TIMESTAMP),  # microseconds read as milliseconds
    ],
)
def test_rejected(value: object, reason: Reason) -> None:
    with pytest.raises(Invalid) as exc:
        parse_timestamp(value, MAX_NS)
    assert exc.value.reason is reason


def test_future_limit_is_inclusive() -> None:
    assert parse_timestamp("2026-11-29T12:05:00Z", MAX_NS) == MAX_NS
