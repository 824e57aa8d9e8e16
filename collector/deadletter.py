"""Keep every reading we do not store: a JSONL file and/or the ``{prefix}/_rejected`` topic.

Two sources feed it: readings the wire decoder rejected (bad JSON, wrong types, ranges...) and
lines InfluxDB itself refused (for example a field type conflict). Entries are buffered per
batch and written (and fsynced) before the batch's MQTT messages are acked, so a rejected reading
is never dropped silently, even across a crash. Publishing to MQTT is best effort on top: the
file is the durable record when it is configured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from heatwatch.wire import Rejection

__all__ = ["INFLUX_REFUSED", "DeadLetter", "rejection_json"]

INFLUX_REFUSED = "influx_refused"

Publisher = Callable[[str, bytes], None]


def rejection_json(rejection: Rejection) -> bytes:
    """The wire module's JSON form, so file and topic entries match what other tools parse."""
    return rejection.to_json()


class DeadLetter:
    """Buffered dead-letter sink; :meth:`flush` makes the buffer durable, then publishes it."""

    def __init__(self, path: Path | None, publish: Publisher | None, topic: str) -> None:
        self.path = path
        self._publish = publish
        self.topic = topic
        self._pending: list[bytes] = []
        self.written = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._pending)

    def add_rejection(self, rejection: Rejection) -> None:
        self._pending.append(rejection_json(rejection))

    def add_raw(self, reason: str, detail: str, topic: str, payload: bytes) -> None:
        """A message the decoder could not even classify (a decoder bug, not bad input)."""
        excerpt = payload.decode("utf-8", errors="replace")
        doc = {"reason": reason, "detail": detail, "topic": topic, "excerpt": excerpt}
        self._pending.append(orjson.dumps(doc))

    def add_refused_line(self, line: str, detail: str) -> None:
        doc = {"reason": INFLUX_REFUSED, "detail": detail, "line": line, "at": time.time()}
        self._pending.append(orjson.dumps(doc))

    def flush(self) -> None:
        """Append to the file with fsync (raises OSError on failure: do not ack then)."""
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        if self.path is not None:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                try:
                    os.write(fd, b"\n".join(entries) + b"\n")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                self._pending = entries + self._pending
                raise
        self.written += len(entries)
        if self._publish is not None:
            for entry in entries:
                self._publish(self.topic, entry)
