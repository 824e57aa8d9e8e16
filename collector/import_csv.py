"""One CSV file -> chunks of wire readings (plain dicts, per station) for the decoder.

This module only reshapes text: cells become numbers in the field's unit, the time column
becomes epoch milliseconds, and rows that are not readings are counted and left out. It never
judges a value: a non-numeric cell is passed on as the string it is and an out-of-range number
as the number it is, so that the wire decoder rejects them with the same reasons as a live
reading. The only verdict given here is on time (a time the decoder never sees as text).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from collector.import_mapping import ImportMapping
from collector.import_time import TimeProblem, TimeReader
from heatwatch.wire import Reason, Rejection

__all__ = ["TOPIC_PREFIX", "Chunk", "CsvSource", "FileProblem", "topic_of"]

TOPIC_PREFIX = "import"  # topics of imported readings: import/{station}/telemetry
EXCERPT_CHARS = 200
_MS_CUTOFF = 100_000_000_000  # the decoder reads smaller epoch numbers as seconds


def topic_of(station: str) -> str:
    return f"{TOPIC_PREFIX}/{station}/telemetry"


class FileProblem(Exception):
    """A file that cannot be imported at all (unreadable, a mapped column missing)."""


@dataclass
class Chunk:
    """Readings of one station from consecutive rows, with where each came from."""

    station: str
    readings: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # line number of each reading
    rows: list[list[str]] = field(default_factory=list)  # its cells, for the dead-letter


@dataclass(frozen=True)
class _Col:
    index: int
    field: str
    scale: float | None  # None: stored as read
    offset: float
    missing: frozenset[float]
    suffix: str  # "e3" when scale is 1000 and offset 0: scaled exactly by float(text + "e3")


class CsvSource:
    """Reads files of one mapping; see the module docstring. ``skipped`` counts rows that are
    not readings by reason, ``rejections`` collects rows whose time is no instant.

    Rows are converted a block at a time and column by column (``map(float, column)`` runs in
    C; only a column with an empty or non-numeric cell in the block takes the per-cell path),
    which is what makes an import keep up with InfluxDB.
    """

    def __init__(self, mapping: ImportMapping, times: TimeReader, *, chunk_rows: int = 1000,
                 clock: Callable[[], float]) -> None:
        self.mapping = mapping
        self.times = times
        self.chunk_rows = chunk_rows
        self.clock = clock
        self.rows = 0
        self.position = 0  # bytes of the current file consumed (about; for progress)
        self.skipped: Counter[str] = Counter()
        self.rejections: list[Rejection] = []
        self.unmapped: set[str] = set()
        texts, numbers = set(), set()
        for text in mapping.missing_values:
            try:
                numbers.add(float(text))
            except ValueError:
                texts.add(text)
        self._missing_texts = frozenset(texts)
        self._missing_numbers = frozenset(numbers)  # "-999" in missing_values: any column

    def chunks(self, path: Path) -> Iterator[Chunk]:
        """The file's readings in chunks of at most ``chunk_rows`` rows, one station each;
        raises :class:`FileProblem` if the file cannot be read as mapped."""
        m = self.mapping
        try:
            file_station = m.station_for_file(path)
            raw = path.open("rb")
        except (ValueError, OSError) as exc:
            raise FileProblem(f"{path}: {exc}") from None
        self.times.new_file()
        self.position = 0
        with raw, io.TextIOWrapper(raw, encoding=m.csv.encoding, newline="") as text:
            reader = csv.reader(text, delimiter=m.csv.delimiter, quotechar=m.csv.quotechar)
            try:
                header = [h.strip() for h in next(reader, [])]
                plan = self._plan(path, header)
                width = len(header)
                block: list[list[str]] = []
                lines: list[int] = []
                for cells in reader:
                    if not cells:
                        continue  # a blank line: not even a row
                    if len(cells) < width:  # cells missing at the end: empty
                        cells += [""] * (width - len(cells))
                    block.append(cells)
                    lines.append(reader.line_num)
                    if len(block) >= self.chunk_rows:
                        self.position = raw.tell()
                        yield from self._block(path, block, lines, plan, file_station)
                        block, lines = [], []
                self.position = raw.tell()
                if block:
                    yield from self._block(path, block, lines, plan, file_station)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise FileProblem(f"{path} line {reader.line_num}: {exc}") from None

    def _plan(self, path: Path, header: list[str]) -> _Plan:
        m = self.mapping
        index = {name: i for i, name in enumerate(header)}
        wanted = [m.time.column, *m.columns]
        if m.station.column is not None:
            wanted.append(m.station.column)
        missing = [c for c in wanted if c not in index]
        if missing:
            raise FileProblem(f"{path}: no column {', '.join(map(repr, missing))} in the "
                              f"header ({', '.join(header)})")
        self.unmapped.update(set(header) - set(wanted))
        groups: dict[str | None, list[_Col]] = {}
        for name, col in m.columns.items():
            scaled = col.scale != 1.0 or col.offset != 0.0
            power = round(math.log10(col.scale)) if col.scale > 0 else 0
            exact = col.offset == 0.0 and 0 < power <= 15 and col.scale == 10.0**power
            groups.setdefault(col.station, []).append(_Col(
                index[name], col.field, col.scale if scaled else None, col.offset,
                frozenset(col.missing) | self._missing_numbers, f"e{power}" if exact else ""))
        s_idx = index[m.station.column] if m.station.column is not None else None
        return _Plan(index[m.time.column], s_idx, list(groups.items()))

    def _block(self, path: Path, block: list[list[str]], lines: list[int], plan: _Plan,
               file_station: str | None) -> Iterator[Chunk]:
        self.rows += len(block)
        by_index = list(zip(*block, strict=False))  # columns (rows are at least header-wide)
        times = by_index[plan.time]
        if plan.station is not None:
            row_stations: list[str | None] = [cell.strip() for cell in by_index[plan.station]]
        else:
            row_stations = [file_station] * len(block)
        skip_zero = self.mapping.skip_rows.all_zero
        epoch_ms = self.times.epoch_ms
        pending: dict[str, Chunk] = {}
        for col_station, cols in plan.groups:
            names = tuple(c.field for c in cols)
            converted = [self._column(c, by_index[c.index]) for c in cols]
            raws = zip(*[r for r, _ in converted], strict=True)
            values = zip(*[v for _, v in converted], strict=True)
            # One station for the whole group (station per file or per column): one chunk.
            fixed = col_station or (file_station if plan.station is None else None)
            station = fixed or ""
            chunk = pending.setdefault(station, Chunk(station)) if fixed is not None else Chunk("")
            for i, raw, vals in zip(range(len(block)), raws, values, strict=True):
                if skip_zero and not any(raw):  # 0.0, -0.0 and None (empty) are all falsy
                    self.skipped["all_zero"] += 1
                    continue
                if fixed is None:
                    station = row_stations[i] or ""
                    chunk = pending.get(station) or pending.setdefault(station, Chunk(station))
                try:
                    ms = epoch_ms(times[i], station)
                except TimeProblem as exc:
                    self._reject_time(path, lines[i], station, str(exc), block[i])
                    continue
                if None in vals:
                    obj = {k: v for k, v in zip(names, vals, strict=True) if v is not None}
                else:
                    obj = dict(zip(names, vals, strict=True))
                obj["ts"] = ms if ms >= _MS_CUTOFF else ms / 1000
                chunk.readings.append(obj)
                chunk.lines.append(lines[i])
                chunk.rows.append(block[i])
        yield from (c for c in pending.values() if c.readings)

    def _column(self, col: _Col, cells: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
        """One column of a block: (values as read, for the all-zero test; values to store,
        ``None`` where there is none). A cell that is no number stays the string it is."""
        try:
            raw: list[Any] = list(map(float, cells))
            clean = True
        except ValueError:
            texts = self._missing_texts
            raw = [_cell(c, texts) for c in cells]
            clean = False
        values = raw
        if col.scale is not None:
            scaled = None
            if clean and col.suffix:
                with contextlib.suppress(ValueError):  # "1e5" + "e3": take the general way
                    scaled = list(map(float, map(str.__add__, cells, repeat(col.suffix))))
            if scaled is None:
                scale, offset = col.scale, col.offset
                # 15 significant digits drop the float noise of the scaling (9057.296 * 1000
                # is 9057296.000000002) and keep every real digit.
                scaled = [float(f"{v * scale + offset:.15g}") if type(v) is float else v
                          for v in raw]
            values = scaled
        if col.missing and not col.missing.isdisjoint(raw):
            missing = col.missing
            values = [None if r in missing else v for r, v in zip(raw, values, strict=True)]
        return raw, values

    def _reject_time(self, path: Path, line: int, station: str, detail: str,
                     cells: list[str]) -> None:
        self.rejections.append(Rejection(
            Reason.BAD_TIMESTAMP, f"{path.name}:{line}: {detail}", topic_of(station),
            station or None, excerpt_of(self.mapping.csv.delimiter, cells), self.clock()))


@dataclass(frozen=True)
class _Plan:
    time: int  # column index
    station: int | None  # column index of a station column
    groups: list[tuple[str | None, list[_Col]]]  # per column station (None: the row's)


def _cell(text: str, missing: frozenset[str]) -> float | str | None:
    if text in missing:
        return None
    try:
        return float(text)
    except ValueError:
        return text  # the decoder says wrong_type, as for a string in a live reading


def excerpt_of(delimiter: str, cells: list[str]) -> str:
    """The row as it stood in the file (near enough), for the dead-letter record."""
    return delimiter.join(cells)[:EXCERPT_CHARS]
