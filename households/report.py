"""The comfort report's tables: flat-days, and totals per station, zone and company.

Kept apart from the command line so the API and tests build the same tables. CSV gets one
table (``--by``); a workbook gets all four as sheets (openpyxl, the ``reports`` extra).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from households.exposure import FlatDay, Totals, totals

__all__ = ["LEVELS", "Table", "flat_table", "summary", "tables", "totals_table", "write_csv",
           "write_xlsx"]

LEVELS = ("flat", "station", "zone", "company")
Cell = str | float | int | None
Table = tuple[list[str], list[list[Cell]]]


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def flat_table(rows: Sequence[FlatDay]) -> Table:
    head = ["day", "zone", "station", "meter", "hours", "hours_data", "hours_below",
            "hours_critical", "min_c", "mean_c", "band", "share", "area_m2", "refund"]
    body: list[list[Cell]] = [
        [r.comfort.day.isoformat(), r.zone, r.station, r.meter, r.comfort.hours,
         _r(r.comfort.hours_data), _r(r.comfort.hours_below), _r(r.comfort.hours_critical),
         _r(r.comfort.min_c), _r(r.comfort.mean_c), r.comfort.band, r.comfort.share,
         r.area_m2, _r(r.refund)]
        for r in sorted(rows, key=lambda r: (r.comfort.day, r.zone, r.station, r.meter))
    ]
    return head, body


def totals_table(rows: Sequence[FlatDay], level: str, band_names: Sequence[str]) -> Table:
    """One line per station, zone or the company; a column per refund band."""
    key: Callable[[FlatDay], str] = {
        "station": lambda r: r.station, "zone": lambda r: r.zone,
        "company": lambda r: "all"}[level]
    head = [level, "flat_days", "no_data", "warm", *band_names, "hours_below",
            "hours_critical", "refund", "unpriced_days"]
    body: list[list[Cell]] = []
    for name, t in totals(rows, key).items():
        body.append([name, t.flat_days, t.no_data, t.warm,
                     *(t.bands.get(b, 0) for b in band_names), _r(t.hours_below, 1),
                     _r(t.hours_critical, 1), _r(t.refund), t.unpriced])
    return head, body


def tables(rows: Sequence[FlatDay], band_names: Sequence[str]) -> dict[str, Table]:
    out = {"flat": flat_table(rows)}
    for level in LEVELS[1:]:
        out[level] = totals_table(rows, level, band_names)
    return out


def summary(rows: Sequence[FlatDay], currency: str) -> str:
    """One line for the terminal: flat-days, how many without data, the money."""
    t = next(iter(totals(rows, lambda r: "all").values()), Totals())
    share = f" ({t.no_data / t.flat_days:.1%})" if t.flat_days else ""
    refund_days = t.flat_days - t.no_data - t.warm
    return (f"{t.flat_days} flat-days: {t.no_data} with too little data{share}, {t.warm} warm, "
            f"{refund_days} under a refund band; refund {t.refund:.2f} {currency}"
            f" ({t.unpriced} refund days of flats without area_m2 not priced)")


def write_csv(table: Table, out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(table[0])
    w.writerows(table[1])


def write_xlsx(all_tables: dict[str, Table], path: Path) -> None:
    """A workbook with one sheet per table. Raises ModuleNotFoundError without openpyxl."""
    from openpyxl import Workbook

    wb = Workbook()
    first = True
    for name, (head, body) in all_tables.items():
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = name
        ws.append(head)
        for row in body:
            ws.append(row)
        ws.freeze_panes = "A2"
    wb.save(path)
