"""Refund exposure: ledger lines priced, and totals per station, zone and company.

A day's refund is its band's share of the day's fee, and the fee is per m² (the zone's fee
times the flat's ``area_m2`` from the registry). A flat without an area still has its days
counted in flat-days and bands; only its money is unknown, and the totals say how many such
flat-days there were instead of pricing them at some guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from households.ledger import NO_DATA, WARM, ComfortDay

__all__ = ["FlatDay", "Totals", "refund_of", "totals"]


@dataclass(frozen=True, slots=True)
class FlatDay:
    """One ledger line with where it belongs and what it costs."""

    station: str
    zone: str
    meter: str
    area_m2: float | None
    comfort: ComfortDay
    refund: float | None  # None: the flat has no area (or the day no data)


def refund_of(day: ComfortDay, area_m2: float | None, fee_per_m2_day: float) -> float | None:
    """The day's refund; 0 for a warm day or one without data, None without an area."""
    if day.band in (WARM, NO_DATA):
        return 0.0
    if area_m2 is None:
        return None
    return day.share * fee_per_m2_day * area_m2


@dataclass(slots=True)
class Totals:
    """Sums over flat-days. ``bands``: flat-days per refund band (warm and no_data apart)."""

    flat_days: int = 0
    no_data: int = 0
    warm: int = 0
    bands: dict[str, int] = field(default_factory=dict)
    hours_below: float = 0.0
    hours_critical: float = 0.0
    refund: float = 0.0
    unpriced: int = 0  # refund days of flats without an area

    def add(self, row: FlatDay) -> None:
        self.flat_days += 1
        band = row.comfort.band
        if band == NO_DATA:
            self.no_data += 1
        elif band == WARM:
            self.warm += 1
        else:
            self.bands[band] = self.bands.get(band, 0) + 1
        self.hours_below += row.comfort.hours_below
        self.hours_critical += row.comfort.hours_critical
        if row.refund is None:
            self.unpriced += 1
        else:
            self.refund += row.refund


def totals(rows: Iterable[FlatDay], key: Callable[[FlatDay], str]) -> dict[str, Totals]:
    """Totals per ``key`` (``lambda r: r.station``, ``r.zone``, or ``"all"`` for the company),
    sorted by key."""
    out: dict[str, Totals] = {}
    for row in rows:
        k = key(row)
        t = out.get(k)
        if t is None:
            t = out[k] = Totals()
        t.add(row)
    return dict(sorted(out.items()))
