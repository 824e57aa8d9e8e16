"""The comfort ledger: what one flat's indoor sensor says about one local day.

Refunds are paid per household and per day (Shenyang: a day between 13 and 18 °C costs half the
day's fee, a day under 13 °C all of it), and a day is the residents' day: local midnight to local
midnight in the zone's time zone, so 23 h in spring and 25 h in autumn where the clocks change.

Time-weighted, not reading-weighted: a sensor that reports every minute while cold and every
hour while warm must not make the day look colder. Each reading stands for the time until the
next one, but at most ``max_gap_s``; beyond that the time counts as no data (a dead sensor must
not carry its last value through the night). A day with too little data is ``no_data``: neither
warm nor cold, and the report counts it.

Pure functions over ``(epoch s, °C)`` samples: the engine's day-close hook, the report over a
past period, the complaint verdict and the benchmark all call the same arithmetic.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_BANDS",
    "NO_DATA",
    "WARM",
    "ComfortDay",
    "LedgerParams",
    "RefundBand",
    "Sample",
    "Tally",
    "band_of",
    "comfort_day",
    "day_bounds",
    "days_between",
    "tally",
]

Sample = tuple[float, float]  # (epoch s, indoor °C), sorted by time
NO_DATA = "no_data"
WARM = "warm"


class LedgerParams(BaseModel):
    """How readings become hours: the standard, the critical line and what counts as data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    standard_c: float = Field(default=18.0, ge=0, le=30, description="indoor standard")
    critical_c: float = Field(default=13.0, ge=0, le=30, description="hours under this too")
    max_gap_s: float = Field(
        default=3600.0, gt=0, le=86400,
        description="a reading stands for the time until the next one, at most this long")
    min_data_share: float = Field(
        default=0.75, gt=0, le=1,
        description="a day with less data than this share of its hours is no_data")

    @model_validator(mode="after")
    def _order(self) -> LedgerParams:
        if self.critical_c > self.standard_c:
            raise ValueError("critical_c must be <= standard_c")
        return self


class RefundBand(BaseModel):
    """A day whose mean indoor temperature is under ``below_c`` refunds ``share`` of its fee;
    of several bands, the lowest one the mean is under applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    below_c: float = Field(ge=-10, le=40)
    share: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _reserved(self) -> RefundBand:
        if self.name in (NO_DATA, WARM):
            raise ValueError(f"band name {self.name!r} is reserved")
        return self


# The Shenyang rule: 13-18 °C half the day's fee, under 13 °C all of it.
DEFAULT_BANDS: tuple[RefundBand, ...] = (
    RefundBand(name="half", below_c=18.0, share=0.5),
    RefundBand(name="full", below_c=13.0, share=1.0),
)


@dataclass(frozen=True, slots=True)
class Tally:
    """Hours of one period. ``mean_c`` is time-weighted; None without any data."""

    hours_data: float
    hours_below: float
    hours_critical: float
    min_c: float | None
    mean_c: float | None


@dataclass(frozen=True, slots=True)
class ComfortDay:
    """One flat, one local day (``start``/``end``: local midnights as epoch seconds)."""

    day: date
    start: float
    end: float
    hours: float  # 23, 24 or 25
    hours_data: float
    hours_below: float
    hours_critical: float
    min_c: float | None
    mean_c: float | None
    band: str  # NO_DATA, WARM or a RefundBand name
    share: float  # of the day's fee to refund


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def day_bounds(day: date, tz: str | ZoneInfo) -> tuple[float, float]:
    """Local midnight of ``day`` and of the next day, as epoch seconds.

    Aware datetimes with a ``ZoneInfo`` resolve each midnight's own offset, so the span is 23 h
    or 25 h on the days the clocks change. A midnight that does not exist (a zone that jumps
    at 00:00) takes the offset before the gap (``fold=0``): the day starts at the first
    instant that is on that date."""
    z = _zone(tz)
    start = datetime.combine(day, time(0), tzinfo=z).timestamp()
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=z).timestamp()
    return start, end


def days_between(start: float, end: float, tz: str | ZoneInfo) -> list[date]:
    """The local days that begin in ``[start, end)``."""
    z = _zone(tz)
    first = datetime.fromtimestamp(start, z).date()
    out: list[date] = []
    day = first
    while True:
        a, _ = day_bounds(day, z)
        if a >= end:
            return out
        if a >= start:
            out.append(day)
        day += timedelta(days=1)


def tally(samples: Sequence[Sample], start: float, end: float,
          params: LedgerParams | None = None) -> Tally:
    """Hours of data, under the standard and under the critical line in ``[start, end)``.

    Sample-and-hold: reading ``i`` covers ``[t_i, min(t_i+1, t_i + max_gap_s))``, clipped to the
    period, so a reading before ``start`` still counts for the first minutes of the period.
    Non-finite values (a NaN that slipped through) count as no data. ``samples`` must be
    sorted by time (they need not be unique); they may span many days, only the part that
    can reach the period is walked.
    """
    p = params or LedgerParams()
    ordered = samples
    data = below = critical = weighted = 0.0
    low = math.inf
    n = len(ordered)
    # samples older than start - max_gap_s cannot reach the period: skip them (a season of
    # samples judged day by day would otherwise be walked from its first sample every day)
    first = bisect_left(ordered, start - p.max_gap_s, key=_time)
    for i in range(first, n):
        t, v = ordered[i]
        if t >= end:
            break
        stop = t + p.max_gap_s
        if i + 1 < n and ordered[i + 1][0] < stop:
            stop = ordered[i + 1][0]
        a, b = max(t, start), min(stop, end)
        if b <= a or not math.isfinite(v):
            continue
        span = b - a
        data += span
        weighted += v * span
        if v < p.standard_c:
            below += span
        if v < p.critical_c:
            critical += span
        low = min(low, v)
    if data <= 0:
        return Tally(0.0, 0.0, 0.0, None, None)
    return Tally(data / 3600.0, below / 3600.0, critical / 3600.0, low, weighted / data)


def _time(sample: Sample) -> float:
    return sample[0]


def band_of(mean_c: float | None, enough: bool,
            bands: Sequence[RefundBand] = DEFAULT_BANDS) -> tuple[str, float]:
    """(band name, refund share) of a day with this mean."""
    if mean_c is None or not enough:
        return NO_DATA, 0.0
    hit: RefundBand | None = None
    for b in bands:
        if mean_c < b.below_c and (hit is None or b.below_c < hit.below_c):
            hit = b
    return (hit.name, hit.share) if hit is not None else (WARM, 0.0)


def comfort_day(samples: Sequence[Sample], day: date, tz: str | ZoneInfo,
                params: LedgerParams | None = None,
                bands: Sequence[RefundBand] = DEFAULT_BANDS) -> ComfortDay:
    """The ledger line of one flat for local ``day`` in ``tz``.

    ``samples``: the flat's indoor readings covering the day, and ideally the last one before
    it (within ``max_gap_s``), which counts for the day's first minutes."""
    p = params or LedgerParams()
    start, end = day_bounds(day, tz)
    t = tally(samples, start, end, p)
    hours = (end - start) / 3600.0
    enough = t.hours_data >= p.min_data_share * hours - 1e-9
    band, share = band_of(t.mean_c, enough, bands)
    return ComfortDay(day, start, end, hours, t.hours_data, t.hours_below, t.hours_critical,
                      t.min_c, t.mean_c, band, share)
