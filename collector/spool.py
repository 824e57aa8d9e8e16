"""A bounded, crash-safe FIFO of line-protocol batches on local disk.

Why it exists: the collector acknowledges an MQTT message only once its readings are durable.
When InfluxDB is down or slow, "durable" means "appended and fsynced here"; the batches are
replayed, oldest first, once InfluxDB answers again.

Layout: numbered segment files ``seg-000000000001.spool`` in one directory. Each record is an
8-byte header (body length, CRC-32 of the body, both big-endian uint32) and the body (lines
joined by ``\\n``, UTF-8). Appends go to the newest segment, which rotates at
``segment_bytes``; a fresh process never appends to a segment it found on disk, so a record
torn by SIGKILL can only ever be the last one of a segment. A torn or corrupt tail is skipped
and counted: it was never fsynced completely, so its messages were never acked and the broker
delivers them again. A corrupt record with valid ones after it (bit rot, a bad sector) is
different: the later records were acked, so replay resynchronises on the next offset whose
header and CRC-32 agree, logs the skipped bytes and counts ``corrupt_records``.

Replay progress inside a segment is kept in memory only; after a crash the head segment is
replayed from its start. The duplicates that causes are harmless: InfluxDB overwrites a point
with the same series and timestamp.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Spool", "SpoolChunk", "SpoolError", "SpoolFull"]

log = logging.getLogger("collector")

_HEADER = struct.Struct(">II")
_NAME_RE = re.compile(r"^seg-(\d{12})\.spool$")


class SpoolError(OSError):
    """The spool directory or a segment could not be read or written."""


class SpoolFull(SpoolError):
    """Appending would pass ``max_bytes``: the caller must apply back-pressure, not drop."""


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    """Lines read from the head of the spool, and where the head moves once they are stored."""

    lines: list[str]
    records: int
    segment: int
    end_offset: int
    nbytes: int


class Spool:
    """FIFO of line batches; see the module docstring for format and guarantees."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int = 16 << 20,
        alarm_ratio: float = 0.8,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.alarm_ratio = alarm_ratio
        self.corrupt_tails = 0
        self.corrupt_records = 0  # corrupt records before a valid one (resynchronised)
        self.skipped_bytes = 0
        self.alarmed = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd: int | None = self._lock()
            names = os.listdir(self.directory)
        except OSError as exc:
            if isinstance(exc, SpoolError):
                raise
            raise SpoolError(f"spool directory {self.directory}: {exc.strerror}") from exc
        self._segments: list[int] = sorted(
            int(m.group(1)) for n in names if (m := _NAME_RE.match(n))
        )
        self._sizes: dict[int, int] = {s: self._path(s).stat().st_size for s in self._segments}
        self._head_offset = 0
        self._active: int | None = None  # segment this process appends to
        self._fd: int | None = None
        self.alarmed = self.fill_ratio >= alarm_ratio

    def _lock(self) -> int:
        """One process per spool directory: two appenders would interleave segment numbers and
        replay each other's data. The kernel drops the lock when the process dies, SIGKILL
        included, so a restart never finds a stale lock."""
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise SpoolError(
                f"spool directory {self.directory} is in use by another collector; "
                "give each collector its own spool.dir"
            ) from exc
        return fd

    # -- introspection -------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        """Bytes on disk (replayed records still count until their segment is deleted)."""
        return sum(self._sizes.values())

    @property
    def fill_ratio(self) -> float:
        return self.size_bytes / self.max_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes not yet replayed."""
        return self.size_bytes - self._head_offset if self._segments else 0

    def __bool__(self) -> bool:
        return self.pending_bytes > 0

    def _path(self, segment: int) -> Path:
        return self.directory / f"seg-{segment:012d}.spool"

    # -- append ---------------------------------------------------------------------------
    def append(self, lines: list[str]) -> bool:
        """Append one batch durably (written and fsynced before returning).

        Returns True when this append pushed the fill ratio past ``alarm_ratio`` (once per
        crossing), so the caller can count and log the alarm. Raises :class:`SpoolFull` if the
        batch does not fit; nothing is written then.
        """
        body = "\n".join(lines).encode("utf-8")
        record = _HEADER.pack(len(body), zlib.crc32(body)) + body
        if self.size_bytes + len(record) > self.max_bytes:
            raise SpoolFull(
                f"spool {self.directory} full: {self.size_bytes} + {len(record)} bytes "
                f"> max_bytes {self.max_bytes}"
            )
        try:
            fd = self._active_fd(len(record))
            view = memoryview(record)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            self._abandon_active()
            raise SpoolError(f"cannot append to spool {self.directory}: {exc}") from exc
        assert self._active is not None
        self._sizes[self._active] += len(record)
        if not self.alarmed and self.fill_ratio >= self.alarm_ratio:
            self.alarmed = True
            return True
        return False

    def _active_fd(self, incoming: int) -> int:
        if (
            self._fd is not None
            and self._active is not None
            and self._sizes[self._active] > 0
            and self._sizes[self._active] + incoming > self.segment_bytes
        ):
            self._close_active()
        if self._fd is None:
            segment = (self._segments[-1] + 1) if self._segments else 1
            path = self._path(segment)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o640)
            self._fsync_dir()  # the new name must survive a crash too
            self._segments.append(segment)
            self._sizes[segment] = 0
            self._active = segment
        return self._fd

    def _abandon_active(self) -> None:
        """After a failed write, cut the segment back to its last good record and stop
        appending to it, so a half-written record can never sit before a later good one."""
        segment = self._active
        if self._fd is not None and segment is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._sizes[segment])
        self._close_active()
        if segment is not None and self._sizes.get(segment) == 0:
            # Nothing good in it: a full disk would otherwise leave one empty file per
            # failed append (and a segment number used up each time).
            with contextlib.suppress(OSError):
                self._path(segment).unlink()
            self._segments.remove(segment)
            del self._sizes[segment]

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _close_active(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._active = None

    # -- replay ---------------------------------------------------------------------------
    def peek(self, max_lines: int) -> SpoolChunk | None:
        """Read whole records from the head segment until ``max_lines`` is reached.

        Nothing moves until :meth:`commit`; a failed write simply peeks the same chunk again.
        Returns None when nothing is pending.
        """
        while self._segments:
            segment = self._segments[0]
            lines: list[str] = []
            records = 0
            offset = self._head_offset
            size = self._sizes[segment]
            try:
                with self._path(segment).open("rb") as fh:
                    fh.seek(offset)
                    while offset < size and len(lines) < max_lines:
                        header = fh.read(_HEADER.size)
                        if len(header) < _HEADER.size:
                            self._torn(segment, offset)
                            break
                        length, crc = _HEADER.unpack(header)
                        body = fh.read(length) if length <= size - offset else b""
                        if len(body) < length or zlib.crc32(body) != crc:
                            found = self._resync(fh, segment, offset, size)
                            if found is None:
                                self._torn(segment, offset)
                                break
                            offset = found
                            fh.seek(offset)
                            continue
                        lines.extend(body.decode("utf-8").split("\n"))
                        records += 1
                        offset += _HEADER.size + length
            except OSError as exc:
                raise SpoolError(f"cannot read spool segment {segment}: {exc}") from exc
            size = self._sizes[segment]
            if records:
                return SpoolChunk(lines, records, segment, offset, offset - self._head_offset)
            if offset >= size and segment != self._active:
                self._drop_head()  # empty, fully replayed or torn: move on
                continue
            return None
        return None

    def _resync(self, fh: BinaryIO, segment: int, bad: int, size: int) -> int | None:
        """The record at ``bad`` is corrupt (bit rot, a bad sector; appends never tear a
        record in the middle of a segment): find the next offset where a header and its
        checksum agree, so the records after it, already acked, are still replayed. None when
        no valid record follows (a torn tail)."""
        fh.seek(bad + 1)
        rest = fh.read(size - bad - 1)
        for i in range(len(rest) - _HEADER.size + 1):
            length, crc = _HEADER.unpack_from(rest, i)
            start = i + _HEADER.size
            if start + length <= len(rest) and zlib.crc32(rest[start:start + length]) == crc:
                found = bad + 1 + i
                self.corrupt_records += 1
                self.skipped_bytes += found - bad
                log.error("spool segment %d: corrupt record at byte %d; skipped %d bytes to "
                          "the next valid record at byte %d", segment, bad, found - bad, found)
                return found
        return None

    def _torn(self, segment: int, offset: int) -> None:
        """Everything from ``offset`` on is unreadable: forget it (it was never acked)."""
        self.corrupt_tails += 1
        self._sizes[segment] = offset
        if segment == self._active:
            self._close_active()

    def commit(self, chunk: SpoolChunk) -> None:
        """The chunk is stored in InfluxDB: advance the head, delete finished segments."""
        if not self._segments or chunk.segment != self._segments[0]:
            raise SpoolError("commit of a chunk that is not at the head of the spool")
        self._head_offset = chunk.end_offset
        if self._head_offset >= self._sizes[chunk.segment]:
            if chunk.segment == self._active:
                self._close_active()
            self._drop_head()
        if self.alarmed and self.fill_ratio < self.alarm_ratio:
            self.alarmed = False

    def _drop_head(self) -> None:
        segment = self._segments.pop(0)
        self._sizes.pop(segment, None)
        self._head_offset = 0
        with contextlib.suppress(FileNotFoundError):
            self._path(segment).unlink()

    def close(self) -> None:
        self._close_active()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
