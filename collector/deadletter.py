"""Keep every reading we do not store: a JSONL file and/or the ``{prefix}/_rejected`` topic.

Two sources feed it: readings the wire decoder rejected (bad JSON, wrong types, ranges...) and
lines InfluxDB itself refused (for example a field type conflict). Entries are buffered per
batch and written (and fsynced) before the batch's MQTT messages are acked, so a rejected reading
is never dropped silently, even across a crash. The collector's worker adds entries while its
flusher writes them, hence the lock. Publishing to MQTT is best effort on top: the
file is the durable record when it is configured.

The file is rotated by size, like a log: a gateway sending garbage around the clock must not
fill the disk the spool needs. The full file is renamed with its UTC time and the newest
``keep`` rotated files are kept (0 keeps them all); each rotation and each removal is logged,
since removing a file drops those records for good.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from heatwatch.wire import Rejection

__all__ = ["FIELD_TYPE_CONFLICT", "INFLUX_REFUSED", "DeadLetter", "rejection_json"]

INFLUX_REFUSED = "influx_refused"
FIELD_TYPE_CONFLICT = "field_type_conflict"

Publisher = Callable[[str, bytes], None]

log = logging.getLogger("collector")


def rejection_json(rejection: Rejection) -> bytes:
    """The wire module's JSON form, so file and topic entries match what other tools parse."""
    return rejection.to_json()


class DeadLetter:
    """Buffered dead-letter sink; :meth:`flush` makes the buffer durable, then publishes it."""

    def __init__(self, path: Path | None, publish: Publisher | None, topic: str, *,
                 max_bytes: int = 64 * 1024 * 1024, keep: int = 10) -> None:
        self.path = path
        self._publish = publish
        self.topic = topic
        self.max_bytes = max_bytes
        self.keep = keep
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self.written = 0
        self.rotations = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._pending)

    def add_rejection(self, rejection: Rejection) -> None:
        entry = rejection_json(rejection)
        with self._lock:
            self._pending.append(entry)

    def add_raw(self, reason: str, detail: str, topic: str, payload: bytes) -> None:
        """A message the decoder could not even classify (a decoder bug, not bad input)."""
        excerpt = payload.decode("utf-8", errors="replace")
        doc = {"reason": reason, "detail": detail, "topic": topic, "excerpt": excerpt}
        entry = orjson.dumps(doc)
        with self._lock:
            self._pending.append(entry)

    def add_refused_line(self, line: str, detail: str) -> None:
        doc = {"reason": INFLUX_REFUSED, "detail": detail, "line": line, "at": time.time()}
        entry = orjson.dumps(doc)
        with self._lock:
            self._pending.append(entry)

    def add_field_conflict(self, line: str, name: str, detail: str) -> None:
        """A field dropped from a stored reading because its type differs from the stored one
        (the rest of the line was written)."""
        doc = {"reason": FIELD_TYPE_CONFLICT, "detail": detail, "field": name, "line": line,
               "at": time.time()}
        entry = orjson.dumps(doc)
        with self._lock:
            self._pending.append(entry)

    def flush(self) -> int:
        """Append to the file with fsync and return how many entries were written (raises
        OSError on failure: do not ack then; the entries stay buffered)."""
        with self._lock:
            entries, self._pending = self._pending, []
        if not entries:
            return 0
        if self.path is not None:
            data = b"\n".join(entries) + b"\n"
            try:
                self._rotate_if_full(len(data))
                _append_whole(self.path, data)
            except OSError:
                with self._lock:
                    self._pending = entries + self._pending
                raise
        self.written += len(entries)
        if self._publish is not None:
            for entry in entries:
                self._publish(self.topic, entry)
        return len(entries)

    def _rotate_if_full(self, adding: int) -> None:
        assert self.path is not None
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + adding <= self.max_bytes:
            return
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.{stamp}")
        n = 1
        while target.exists():  # two rotations within a second
            target = self.path.with_name(f"{self.path.name}.{stamp}-{n}")
            n += 1
        os.replace(self.path, target)
        self.rotations += 1
        log.info("dead-letter file %s reached %d bytes: rotated to %s", self.path, size,
                 target.name)
        if self.keep:
            rotated = sorted(self.path.parent.glob(f"{self.path.name}.*"),
                             key=lambda p: p.stat().st_mtime)
            for old in rotated[: -self.keep]:
                old.unlink()
                log.warning("dead-letter file %s removed (keep: %d rotated files)", old,
                            self.keep)


def _append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` and fsync, or raise with the file cut back to its previous size.

    ``os.write`` may write only part of ``data`` (a full disk writes what fits, then fails), so
    it loops; on any failure the file is truncated back, so it never ends in half a line that
    would corrupt the next entry appended after it.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size > start:
                    os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
