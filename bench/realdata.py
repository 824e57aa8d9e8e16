"""The real SCADA files as the benchmark sees them: rows, gaps and a reason for an alert.

``bench/real_stations.py`` judges the alert engine on real substations that nobody labelled, so
every alert it still raises must be explained from the data itself: a gap in the readings, a
stretch where the logger wrote zeros or repeated one row, heating that was really off, or
nothing (a false alert). This module reads the CSV files directly (not through InfluxDB), so
the explanation does not depend on the importer it checks. The files are GPL-3.0 and are only
ever read from their path (``../shared/data/xai4heat-scada/``), never copied.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.config import OutOfRange
from heatwatch.wirefields import FIELDS, Kind

__all__ = ["Gap", "StationData", "explain", "load_station"]

COLUMNS = ("t_amb", "t_ref", "t_sup_prim", "t_ret_prim", "t_sup_sec", "t_ret_sec", "e", "pe")
# The wire field each column becomes (examples/xai4heat-mapping.yaml) and its unit scale: a row
# the wire decoder would reject (a value outside its field's physical range, or no secondary
# temperature) is not a reading, whatever the CSV says.
_WIRE = {"t_amb": ("outdoor_temp", 1.0), "t_ref": ("supply_setpoint", 1.0),
         "t_sup_prim": ("primary_supply_temp", 1.0), "t_ret_prim": ("primary_return_temp", 1.0),
         "t_sup_sec": ("supply_temp", 1.0), "t_ret_sec": ("return_temp", 1.0),
         "e": ("heat_energy", 1000.0), "pe": ("heat_power", 1.0)}
_NO_VALUE = (0.0, -39.9)  # what this logger writes for "nothing read" (see the mapping)


def _reading(values: tuple[float, ...]) -> bool:
    """Would the decoder take this row as a reading (the mapping's view of it)?"""
    spec = FIELDS[Kind.TELEMETRY]
    for column, value in zip(COLUMNS, values, strict=True):
        name, scale = _WIRE[column]
        missing = math.isnan(value) or (value in _NO_VALUE and column != "pe")
        if missing:
            if spec[name].required:
                return False
            continue
        if not spec[name].lo <= value * scale <= spec[name].hi:
            return False
    return True


@dataclass(slots=True)
class Gap:
    """No usable reading from ``start`` (the last one before) to ``end`` (the next one)."""

    start: float
    end: float
    zeros: int  # all-zero logger rows inside the gap (written, but not readings)

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600


@dataclass(slots=True)
class StationData:
    """One station's rows in time order (epoch seconds), all-zero rows kept apart."""

    station: str
    times: list[float] = field(default_factory=list)
    rows: list[tuple[float, ...]] = field(default_factory=list)
    zero_times: list[float] = field(default_factory=list)
    rejected_times: list[float] = field(default_factory=list)  # rows no decoder would take

    def value(self, i: int, column: str) -> float:
        return self.rows[i][COLUMNS.index(column)]

    def gaps(self, lo: float, hi: float, min_s: float) -> list[Gap]:
        """Spacings of at least ``min_s`` between usable readings inside ``[lo, hi)``."""
        i = bisect.bisect_left(self.times, lo)
        j = bisect.bisect_left(self.times, hi)
        out = []
        for a, b in zip(self.times[i:j], self.times[i + 1:j], strict=False):
            if b - a >= min_s:
                z = (bisect.bisect_left(self.zero_times, b)
                     - bisect.bisect_right(self.zero_times, a))
                out.append(Gap(a, b, z))
        return out


def _epoch(text: str, tz: ZoneInfo, previous: float | None) -> float:
    """Local wall time to epoch seconds. The autumn hour that happens twice is read in file
    order: the file is newest first, so the later occurrence (fold=1) comes first."""
    local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    first = local.replace(tzinfo=tz).timestamp()
    second = local.replace(tzinfo=tz, fold=1).timestamp()
    if first != second and previous is not None and second < previous:
        return second  # newest-first file: the later of the two comes first
    return first


def load_station(path: Path, station: str, tz: ZoneInfo) -> StationData:
    """Read one ``scada_L*.csv`` (newest row first) into a :class:`StationData`."""
    raw: list[tuple[float, tuple[float, ...]]] = []
    previous: float | None = None
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        idx = [header.index(c) for c in COLUMNS]
        for row in reader:
            try:
                values = tuple(float(row[k]) if row[k] else math.nan for k in idx)
            except ValueError:
                continue
            t = _epoch(row[0], tz, previous)
            previous = t
            raw.append((t, values))
    raw.sort(key=lambda r: r[0])
    out = StationData(station)
    for t, values in raw:
        if all(v == 0.0 for v in values):
            out.zero_times.append(t)
        elif not _reading(values):
            out.rejected_times.append(t)
        elif not out.times or t > out.times[-1]:
            out.times.append(t)
            out.rows.append(values)
    return out


def _between(times: list[float], a: float, b: float) -> int:
    return bisect.bisect_left(times, b) - bisect.bisect_right(times, a)


def _fmt(t: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(t, tz=tz).strftime("%Y-%m-%d %H:%M")


def _stuck_rows(data: StationData, i: int) -> int:
    """How many rows around ``i`` repeat row ``i`` exactly (a logger re-sending its last
    values looks alive to a liveness check, but is a gap)."""
    n = 1
    k = i - 1
    while k >= 0 and data.rows[k] == data.rows[i]:
        n, k = n + 1, k - 1
    k = i + 1
    while k < len(data.rows) and data.rows[k] == data.rows[i]:
        n, k = n + 1, k + 1
    return n


def explain(rule: str, start: float, pending_at: float, data: StationData, tz: ZoneInfo,
            gap_s: float = 7200.0) -> tuple[str, str]:
    """``(kind, reason)`` for an alert from the station's own rows.

    ``kind`` is ``gap`` (no readings, or only zero rows, around the alert), ``stuck``
    (the logger repeated one row), ``outage`` (the data shows heat was not delivered),
    ``sensor`` (an out-of-range alert: the row holds the impossible value), or
    ``unexplained`` (nothing in the data explains it: counted as false).
    """
    times = data.times
    i = bisect.bisect_right(times, start) - 1
    j = bisect.bisect_left(times, pending_at)
    # the spacing around the condition's start and the alert: a gap explains silence alerts
    lo = max(0, min(i, j) - 1)
    hi = min(len(times) - 1, max(i, j) + 1)
    for a in range(lo, hi):
        spacing = times[a + 1] - times[a]
        if spacing >= gap_s or (rule in ("station_offline", "pipeline_down")
                                and spacing >= 0.75 * gap_s):
            zeros = _between(data.zero_times, times[a], times[a + 1])
            bad = _between(data.rejected_times, times[a], times[a + 1])
            what = (f", {zeros} all-zero rows" if zeros else "") + (
                f", {bad} rows with an impossible value" if bad else "")
            return "gap", (f"no reading for {spacing / 3600:.1f} h from "
                           f"{_fmt(times[a], tz)}{what}")
    if i < 0:
        return "gap", "before the first reading"
    if rule in ("station_offline", "pipeline_down"):
        spacing = times[min(i + 1, len(times) - 1)] - times[i]
        return "unexplained", f"readings every {spacing / 60:.0f} min around {_fmt(start, tz)}"
    stuck = _stuck_rows(data, i)
    if stuck >= 3:
        return "stuck", f"logger repeated one row {stuck} times around {_fmt(start, tz)}"
    sup, ret = data.value(i, "t_sup_sec"), data.value(i, "t_ret_sec")
    psup, pret = data.value(i, "t_sup_prim"), data.value(i, "t_ret_prim")
    ref, amb, pe = data.value(i, "t_ref"), data.value(i, "t_amb"), data.value(i, "pe")
    values = (f"supply {sup:.1f} (setpoint {ref:.1f}), return {ret:.1f}, primary "
              f"{psup:.1f}/{pret:.1f} °C, {pe:.0f} kW at {amb:.1f} °C outside, "
              f"{_fmt(start, tz)}")
    if rule == "heating_not_resumed" and pe <= 5.0:
        return "outage", "no heat delivered: " + values
    if rule == "out_of_range":
        ranges = OutOfRange().ranges
        odd = [f"{c} reads {data.value(i, c):g}" for c in COLUMNS
               if (r := ranges.get(_WIRE[c][0])) is not None
               and not r.min <= data.value(i, c) <= r.max]
        if odd:
            return "sensor", f"{', '.join(odd)} ({_fmt(start, tz)})"
    return "unexplained", values
