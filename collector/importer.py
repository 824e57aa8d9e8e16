"""``heatwatch import``: CSV history into InfluxDB through the live ingestion path.

Every row becomes a wire reading and goes through the same :class:`heatwatch.wire.Decoder` as
a live MQTT message (as the elements of an array per station and chunk, the form a gateway
uploading its buffer sends: :meth:`~heatwatch.wire.Decoder.decode_items` skips only the JSON
round trip), so the same validation and rejection reasons apply; rejected rows go to the same
dead-letter file (:class:`collector.deadletter.DeadLetter`), good ones become the same line
protocol (:func:`heatwatch.wire.lines_for`) and are written by the same client (v1 or v2,
:class:`heatwatch.influx.InfluxClient`) with the same quarantine of lines InfluxDB refuses.

What differs from live ingestion, and why:

* no ``seq`` and nothing from the time of the import goes into a point: a point is the station,
  its zone and the row's own time, so importing a file again overwrites the same points and
  stores nothing twice;
* there is no spool: if InfluxDB stays unavailable for ``retry_s`` the import stops with an
  error (running it again is safe, see above);
* the decoder's message size limit does not apply (no payload: the readings are built here).

Parsing and decoding run on the calling thread while a second thread writes the previous batch
(the HTTP wait releases the GIL), so InfluxDB and Python work at the same time.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.deadletter import INFLUX_REFUSED, DeadLetter
from collector.import_csv import (
    TOPIC_PREFIX,
    Chunk,
    CsvSource,
    FileProblem,
    excerpt_of,
    topic_of,
)
from collector.import_mapping import ImportMapping
from collector.import_time import TimeReader
from heatwatch.extras import require
from heatwatch.influx import InfluxClient, RetryableWriteError, write_or_quarantine
from heatwatch.registry import Registry, Station
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Decoder, Rejection, lines_for

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["ImportFailed", "ImportSummary", "StationSpan", "import_files"]

log = logging.getLogger("collector.import")


class ImportFailed(RuntimeError):
    """InfluxDB stayed unavailable; the summary so far is attached."""

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class StationSpan:
    """Readings of one station that passed the decoder, and their first and last time."""

    readings: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def add(self, first_ns: int, last_ns: int, n: int) -> None:
        if not self.readings or first_ns < self.first_ns:
            self.first_ns = first_ns
        if not self.readings or last_ns > self.last_ns:
            self.last_ns = last_ns
        self.readings += n


@dataclass
class ImportSummary:
    """What an import did. ``rows`` = data rows read; each row is one reading per station it
    holds, and every reading is stored, skipped (not a reading) or rejected (by reason)."""

    files: int = 0
    rows: int = 0
    stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    dropped_fields: int = 0
    spans: dict[str, StationSpan] = field(default_factory=dict)
    dst_ambiguous: int = 0
    dst_shifted: int = 0
    unmapped_columns: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dead_letter: Path | None = None
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        """The closing summary ``heatwatch import`` prints."""
        def counts(c: Counter[str]) -> str:
            total = sum(c.values())
            if not total:
                return "0"
            return f"{total:,} (" + ", ".join(f"{k} {v:,}" for k, v in c.most_common()) + ")"

        out = [
            f"imported {self.files} file(s): {self.rows:,} rows in {self.seconds:.1f} s "
            f"({self.rows_per_s:,.0f} rows/s)",
            f"  readings stored  {self.stored:,}",
            f"  skipped          {counts(self.skipped)}  (not readings)",
            f"  rejected         {counts(self.rejected)}",
        ]
        if self.rejected and self.dead_letter is not None:
            out.append(f"  dead-letter      {self.dead_letter}")
        if self.dropped_fields:
            out.append(f"  dropped fields   {self.dropped_fields:,}")
        if self.dst_ambiguous or self.dst_shifted:
            out.append(f"  DST              {self.dst_ambiguous:,} rows in the repeated autumn "
                       f"hour placed by row order, {self.dst_shifted:,} shifted out of the "
                       "spring gap")
        if self.unmapped_columns:
            out.append(f"  not imported     columns {', '.join(self.unmapped_columns)}")
        if self.spans:
            out.append(f"  {'station':<12} {'readings':>10}  first (UTC)          last (UTC)")
            for station, span in sorted(self.spans.items()):
                out.append(f"  {station:<12} {span.readings:>10,}  {_utc(span.first_ns)}  "
                           f"{_utc(span.last_ns)}")
        out += [f"  error: {e}" for e in self.errors]
        return "\n".join(out)


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


class _WriteThread(threading.Thread):
    """Writes batches handed over by the importer; at most two wait, so memory stays flat."""

    def __init__(self, writer: InfluxClient, deadletter: DeadLetter, summary: ImportSummary,
                 retry_s: float) -> None:
        super().__init__(name="import-writer", daemon=True)
        self.writer = writer
        self.deadletter = deadletter
        self.summary = summary
        self.retry_s = retry_s
        self.batches: queue.Queue[list[str] | None] = queue.Queue(maxsize=2)
        self.error: str | None = None

    def put(self, lines: list[str]) -> None:
        while self.error is None:
            try:
                self.batches.put(lines, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Let it write what is queued and stop; if it already stopped (an error), the queue
        may be full and nobody reads it, so do not wait on it."""
        while self.is_alive():
            try:
                self.batches.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self.join()

    def run(self) -> None:
        finished = False
        try:
            while True:
                lines = self.batches.get()
                if lines is None or self.error is not None:
                    finished = True
                    return
                self._write(lines)
        finally:
            if not finished and self.error is None:  # the traceback is on stderr already
                self.error = "the writer thread failed"

    def _write(self, lines: list[str]) -> None:
        deadline = time.monotonic() + self.retry_s
        delay = 0.5
        while True:
            try:
                refused = write_or_quarantine(self.writer.write, lines)
                break
            except RetryableWriteError as exc:
                if time.monotonic() + delay > deadline:
                    self.error = f"InfluxDB unavailable for {self.retry_s:.0f} s: {exc}"
                    return
                log.warning("InfluxDB write failed, retrying in %.1f s: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        for line, detail in refused:
            self.deadletter.add_refused_line(line, detail)
        if refused:
            self.summary.rejected[INFLUX_REFUSED] += len(refused)
        self.summary.stored += len(lines) - len(refused)


class _Importer:
    def __init__(self, mapping: ImportMapping, writer: InfluxClient, deadletter: DeadLetter,
                 summary: ImportSummary, *, batch_size: int, max_future_s: float,
                 retry_s: float, clock: Callable[[], float]) -> None:
        self.mapping = mapping
        self.deadletter = deadletter
        self.summary = summary
        self.batch_size = batch_size
        self.clock = clock
        # Import is the way to load history: the collector's bounds on the past
        # (validation.max_past_s) and on extra fields are not applied here, on purpose. Only the
        # future bound and the 2000 floor are.
        self.decoder = Decoder(prefix=TOPIC_PREFIX, max_future_s=max_future_s, max_past_s=None,
                               clock=clock)
        self.times = TimeReader(mapping.time)
        self.source = CsvSource(mapping, self.times, clock=clock)
        self.registry = Registry()
        self.lines: list[str] = []
        self.thread = _WriteThread(writer, deadletter, summary, retry_s)

    def run(self, paths: Sequence[Path], bar: tqdm[Any]) -> None:
        self.thread.start()
        try:
            for path in paths:
                self._file(path, bar)
                if self.thread.error is not None:
                    break
            if self.lines and self.thread.error is None:
                self.thread.put(self.lines)
            self.lines = []
        finally:
            self.thread.finish()
            self._flush_deadletter()
        s, src = self.summary, self.source
        s.rows = src.rows
        s.skipped.update(src.skipped)
        s.dst_ambiguous, s.dst_shifted = self.times.ambiguous, self.times.shifted
        s.unmapped_columns = sorted(src.unmapped)
        if self.thread.error is not None:
            s.errors.append(self.thread.error)

    def _file(self, path: Path, bar: tqdm[Any]) -> None:
        done = 0
        try:
            for chunk in self.source.chunks(path):
                self._chunk(path, chunk)
                self._time_rejections()
                bar.update(self.source.position - done)
                done = self.source.position
                if self.thread.error is not None:
                    return
        except FileProblem as exc:
            self.summary.errors.append(str(exc))
            log.error("%s", exc)
        self._time_rejections()
        self.summary.files += 1
        bar.update(self.source.position - done)

    def _chunk(self, path: Path, chunk: Chunk) -> None:
        station = chunk.station
        if station and self.registry.get(station) is None:
            self._register(station)
        decoded = self.decoder.decode_items(topic_of(station), chunk.readings)
        if decoded.rejections:
            self._rejected(path, chunk, decoded.rejections)
        self.summary.dropped_fields += decoded.dropped_fields
        readings = decoded.readings
        if readings:
            span = self.summary.spans.get(station)
            if span is None:
                span = self.summary.spans[station] = StationSpan()
            times = [r.ts_ns for r in readings]
            span.add(min(times), max(times), len(times))
            self.lines += lines_for(decoded, self.registry)
            if len(self.lines) >= self.batch_size:
                self.thread.put(self.lines)
                self.lines = []
                self._flush_deadletter()

    def _register(self, station: str) -> None:
        try:
            new = Station.model_validate({"id": station, "zone": self.mapping.zone_of(station)})
        except ValueError:
            return  # not a valid id: the decoder rejects its rows as bad_topic
        self.registry = Registry.of([*self.registry.stations, new])

    def _rejected(self, path: Path, chunk: Chunk, rejections: list[Rejection]) -> None:
        """Account and dead-letter rejections, each pointing at its file and line. An element
        rejection's detail starts with ``[i]``; one without is the whole message's."""
        delimiter = self.mapping.csv.delimiter
        if not rejections[0].detail.startswith("["):  # a station id that is no id: every row
            rej = rejections[0]
            targets = [(i, rej, rej.detail) for i in range(len(chunk.lines))]
        else:
            targets = []
            for rej in rejections:
                index, _, rest = rej.detail.partition("] ")
                targets.append((int(index.removeprefix("[")), rej, rest))
        for i, rej, detail in targets:
            self.summary.rejected[rej.reason.value] += 1
            self.deadletter.add_rejection(replace(
                rej, detail=f"{path.name}:{chunk.lines[i]}: {detail}",
                excerpt=excerpt_of(delimiter, chunk.rows[i])))

    def _time_rejections(self) -> None:
        for rej in self.source.rejections:
            self.summary.rejected[rej.reason.value] += 1
            self.deadletter.add_rejection(rej)
        self.source.rejections.clear()

    def _flush_deadletter(self) -> None:
        if len(self.deadletter):
            try:
                self.deadletter.flush()
            except OSError as exc:
                self.summary.errors.append(f"cannot write dead-letter file: {exc}")


@contextlib.contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """An import allocates millions of short-lived, acyclic objects (cells, dicts, readings,
    lines): with the default threshold the cyclic collector runs every 700 of them and
    rescans whatever the process holds, a quarter of the import's CPU. Objects from before are
    frozen out of its scans and it runs a hundred times less often; both restored after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(70_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def import_files(
    mapping: ImportMapping,
    paths: Sequence[Path | str],
    influx: InfluxSettings,
    *,
    dead_letter: Path | None = None,
    batch_size: int = 10_000,
    max_future_s: float = 300.0,
    retry_s: float = 60.0,
    progress: bool | None = None,
    clock: Callable[[], float] = time.time,
) -> ImportSummary:
    """Import CSV files as ``mapping`` says; see the module docstring.

    ``dead_letter``: the JSONL file rejected rows go to (the collector's ``dead_letter.file``);
    ``None`` keeps them in the summary counts only. ``batch_size``: lines per write (the
    collector's ``batch.size``). ``progress``: a bar on stderr; ``None`` shows it when stderr
    is a terminal. Raises :class:`ImportFailed` (with the summary so far) if InfluxDB stays
    unavailable for ``retry_s``; files that cannot be read are listed in ``summary.errors``
    and the others are imported.
    """
    files = [Path(p) for p in paths]
    summary = ImportSummary(dead_letter=dead_letter)
    writer = InfluxClient(influx, create_database=True)
    deadletter = DeadLetter(dead_letter, None, "import/_rejected")
    started = time.perf_counter()
    total = sum(p.stat().st_size for p in files if p.is_file())
    show = sys.stderr.isatty() if progress is None else progress
    try:
        writer.prepare()
    except RetryableWriteError as exc:
        writer.close()
        summary.errors.append(f"InfluxDB not reachable: {exc}")
        raise ImportFailed(f"InfluxDB not reachable: {exc}", summary) from exc
    importer = _Importer(mapping, writer, deadletter, summary, batch_size=batch_size,
                         max_future_s=max_future_s, retry_s=retry_s, clock=clock)
    bar_type = require("tqdm", "tools", "heatwatch import (progress bar)").tqdm
    with bar_type(total=total, unit="B", unit_scale=True, desc="import", file=sys.stderr,
              disable=not show, leave=False) as bar:
        try:
            with _fewer_gc_passes():
                importer.run(files, bar)
        finally:
            writer.close()
            summary.seconds = time.perf_counter() - started
    if importer.thread.error is not None:
        raise ImportFailed(importer.thread.error, summary)
    return summary
