"""The readings the wire format turns into: what the decoder returns, the line protocol
formats and every service passes around.

Kept apart from :mod:`heatwatch.wire` (the decoder) so that :mod:`heatwatch.lineproto` can
name them without importing the decoder that imports it: the arrows go wire -> lineproto ->
readings. Import these names from :mod:`heatwatch.wire`, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from heatwatch.wirefields import Kind, Reason

__all__ = ["Decoded", "FieldValue", "Reading", "Rejection"]

FieldValue = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading.

    ``fields`` holds every stored field except ``ts`` (in ``ts_ns``) and ``seq`` (in ``seq``):
    numbers as ``float``, booleans as ``bool``; status readings carry ``state`` (str) and
    ``online`` (bool).

    ``text`` is ``fields`` already written as a line protocol field set (the decoder writes it
    for telemetry and meter readings; see :func:`heatwatch.wire._field_text`). When it is empty,
    :func:`heatwatch.lineproto.to_line` formats ``fields`` itself. It takes no part in equality:
    a reading read back from InfluxDB equals the one decoded.
    """

    kind: Kind
    station: str
    ts_ns: int
    fields: dict[str, FieldValue]
    meter: str | None = None
    seq: int | None = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A reading (or whole message) that was not stored, and why: one dead-letter entry."""

    reason: Reason
    detail: str
    topic: str
    station: str | None = None
    excerpt: str = ""
    received_at: float = 0.0  # epoch seconds, from the decoder's clock; 0.0: not known
    # Meter id from the topic, and the reading's own ``seq`` when it had a valid one, so that
    # gap accounting can tell "arrived but rejected" from "never arrived".
    meter: str | None = None
    seq: int | None = None

    def to_json(self, *, received_at: float | None = None) -> bytes:
        """The dead-letter record ``{"reason","detail","topic","station","excerpt",
        "received_at"}`` as UTF-8 JSON (one line, no newline), ``received_at`` in RFC 3339 UTC
        (the argument, else the attribute, else now).

        Never raises: text that is not valid Unicode (lone surrogates) is replaced by ``?``.
        """
        when = self.received_at if received_at is None else received_at
        if not when:
            when = time.time()
        record = {
            "reason": self.reason.value,
            "detail": self.detail,
            "topic": self.topic,
            "station": self.station,
            "excerpt": self.excerpt,
            "received_at": _rfc3339(when),
        }
        try:
            return orjson.dumps(record)
        except orjson.JSONEncodeError:
            clean = {
                k: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v
                for k, v in record.items()
            }
            return orjson.dumps(clean)


@dataclass(slots=True)
class Decoded:
    """What one MQTT message turned into. ``len(readings) + len(rejections)`` equals the number
    of readings the message carried (1 for an object or status, n for an array of n; 1 rejection
    when the message as a whole is unusable)."""

    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    dropped_fields: int = 0
    # Extra fields dropped from readings that were kept: their type differs from the stored
    # one (one entry each, reason field_type_conflict; not counted in ``rejections``).
    field_conflicts: list[Rejection] = field(default_factory=list)
    # Extra fields dropped because their station already has ``max_extra_names`` extra names
    # (also counted in ``dropped_fields``).
    capped_fields: int = 0


def _rfc3339(epoch_s: float) -> str:
    try:
        dt = datetime.fromtimestamp(epoch_s, UTC)
    except (OverflowError, OSError, ValueError):
        dt = datetime.fromtimestamp(0, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
