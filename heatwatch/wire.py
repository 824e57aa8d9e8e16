"""Wire format v1: MQTT topics and JSON payloads -> validated readings -> line protocol.

INTERFACE STUB: the wire helper replaces the bodies; the names and signatures below are the
contract that collector/, simulators/ and alerts/ code against.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from heatwatch.registry import Registry

FieldValue = float | int | bool | str


class Kind(enum.StrEnum):
    TELEMETRY = "telemetry"
    METER = "meter"
    STATUS = "status"


class Reason(enum.StrEnum):
    """Why a reading was rejected: one counter label per member."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_STATUS = "bad_status"


@dataclass(frozen=True, slots=True)
class Reading:
    kind: Kind
    station: str
    ts_ns: int
    fields: dict[str, FieldValue]
    meter: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str
    topic: str
    station: str | None = None
    excerpt: str = ""


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    dropped_fields: int = 0


class Decoder:
    def __init__(
        self,
        *,
        prefix: str = "heat",
        max_payload: int = 65536,
        max_future_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self.max_payload = max_payload
        self.max_future_s = max_future_s
        self.clock = clock

    def decode(self, topic: str, payload: bytes) -> Decoded:
        raise NotImplementedError


def to_line(reading: Reading, zone: str) -> str:
    raise NotImplementedError


def lines_for(decoded: Decoded, registry: Registry) -> list[str]:
    raise NotImplementedError
