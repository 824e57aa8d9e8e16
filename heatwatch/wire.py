"""Wire format v1: MQTT topics and JSON payloads -> validated readings -> line protocol.

docs/wire-format.md is the reference for station integrators; this module is its executable
form. Three rules shape the code:

* :meth:`Decoder.decode` never raises. A gateway can send anything, and one bad message must not
  stop the collector; every bad reading becomes a :class:`Rejection` with a reason (a counter
  label) and an excerpt for the dead-letter, and the good readings next to it still count.
* One reading, one verdict: an invalid known field (required or optional) rejects the whole
  reading, so a failing sensor shows up in the rejection counters instead of as a silently
  thinner series. Extra numeric/boolean fields are stored, anything else extra is dropped and
  counted in :attr:`Decoded.dropped_fields`.
* It is on the hot path (tens of thousands of readings per second on one core): one dict lookup
  per field, ``type(x) is`` checks, no regexes or pydantic for known fields.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from heatwatch.lineproto import MEASUREMENTS, lines_for, to_line
from heatwatch.readings import Decoded, FieldValue, Reading, Rejection
from heatwatch.schemas import load_schema
from heatwatch.wirefields import (
    FIELDS,
    FLAG,
    NUMBER,
    SEQ,
    TS,
    FieldSpec,
    Invalid,
    Kind,
    Reason,
    json_type,
    number_problem,
    parse_timestamp,
)

__all__ = [
    "FIELDS",
    "MEASUREMENTS",
    "Decoded",
    "Decoder",
    "FieldSpec",
    "FieldValue",
    "Kind",
    "Reading",
    "Reason",
    "Rejection",
    "lines_for",
    "load_schema",
    "to_line",
]


EXCERPT_CHARS = 200
TOPIC_CHARS = 512  # topics can be 64 KiB of garbage; the dead-letter keeps their start
EXTRA_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
# Names an extra field may not take: InfluxDB 1.x drops any point with a field called "time",
# 2.x reserves the underscore names, and a field named like a tag makes queries ambiguous.
RESERVED_NAMES = frozenset(
    {"time", "station", "zone", "meter", "_measurement", "_field", "_value", "_time",
     "_start", "_stop"}
)

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXTRA_NAME_RE = re.compile(EXTRA_NAME_PATTERN)
_FLOAT_MAX = 1.7976931348623157e308
_CACHE_MAX = 65536


def _clean(text: str, limit: int) -> str:
    """At most ``limit`` characters of valid Unicode (lone surrogates become ``?``), so that a
    dead-letter writer can encode the text as UTF-8 without a second thought."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _text_excerpt(payload: bytes) -> str:
    return payload[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


def _value_excerpt(value: object, payload: bytes, lenient: bool) -> str:
    """The offending array element as JSON text, falling back to the raw payload's start.

    orjson is fast but writes NaN as ``null`` and refuses lone surrogates and huge integers,
    all of which only the lenient (stdlib) parse lets in; those documents are re-serialized
    with the stdlib, which writes them back as the gateway sent them.
    """
    if not lenient:
        try:
            raw = orjson.dumps(value)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes
            return _text_excerpt(payload)
        return raw[: EXCERPT_CHARS * 4].decode("utf-8", "ignore")[:EXCERPT_CHARS]
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        return _text_excerpt(payload)
    return _clean(text, EXCERPT_CHARS)


_JSON_TO_FIELDS = bytes.maketrans(b":", b"=")


def _field_text(fields: dict[str, FieldValue]) -> str:
    """The line protocol field set of a decoded telemetry or meter reading.

    Written by orjson, which formats floats five times faster than ``repr`` (the collector's
    largest single cost per reading): ``{"supply_temp":48.3,"pump_running":true}`` becomes
    ``supply_temp=48.3,pump_running=true`` by deleting braces and quotes and turning colons
    into equals signs. That is only right because the decoder guarantees what goes in: names
    are ``[A-Za-z0-9_]`` (nothing to escape, no quote or colon), values are finite floats
    (``48.0`` keeps its point, so InfluxDB stores a float) or booleans. orjson writes the
    same shortest round-trip digits as ``repr``; exponents may differ in form (``1.5e-7``
    against ``1.5e-07``), which InfluxDB reads alike.
    """
    return orjson.dumps(fields).translate(_JSON_TO_FIELDS, b'{}"').decode()


def _seq_of(obj: object) -> int | None:
    seq = obj.get("seq") if type(obj) is dict else None
    return seq if type(seq) is int and 0 <= seq < 2**63 else None


def _parse_constant(name: str) -> float:
    return float(name)  # "NaN", "Infinity", "-Infinity"


_Table = dict[str, tuple[int, float, float]]


def _compile(kind: Kind) -> tuple[_Table, frozenset[str]]:
    specs = FIELDS[kind]
    table = {name: (s.check, s.lo, s.hi) for name, s in specs.items()}
    return table, frozenset(n for n, s in specs.items() if s.required)


_TABLES = {kind: _compile(kind) for kind in (Kind.TELEMETRY, Kind.METER)}


class Decoder:
    """Turns one MQTT message into readings and rejections; see the module docstring."""

    def __init__(
        self,
        *,
        prefix: str = "heat",
        max_payload: int = 65536,
        max_future_s: float = 300.0,
        max_past_s: float | None = None,
        max_extra_fields: int | None = None,
        max_extra_names: int | None = None,
        field_types: dict[tuple[str, str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``max_past_s``: readings older than this are ``past_timestamp`` (None: only the
        2000 floor; ``heatwatch import`` loads history and passes None). ``max_extra_fields``:
        a reading with more extra fields is ``too_many_fields``. ``max_extra_names``: distinct
        extra field names kept per station; later new names are dropped from their readings
        (counted in :attr:`Decoded.capped_fields`). ``field_types``: stored types by
        (measurement, field), shared with the caller and extended with every new extra field;
        an extra field of another type is dropped and reported in
        :attr:`Decoded.field_conflicts` (None: no check)."""
        if not _ID_RE.fullmatch(prefix):
            raise ValueError(f"topic prefix {prefix!r} must match [A-Za-z0-9_-]{{1,64}}")
        self.prefix = prefix
        self.max_payload = max_payload
        self.max_future_s = max_future_s
        self.max_past_s = max_past_s
        self.max_extra_fields = max_extra_fields
        self.max_extra_names = max_extra_names
        self.field_types = field_types
        self._station_extras: dict[str, set[str]] = {}
        self.clock = clock
        self._topics: dict[str, tuple[Kind, str, str | None]] = {}
        self._extra_names: set[str] = set()

    # -- topics ---------------------------------------------------------------------------

    def parse_topic(self, topic: str) -> tuple[Kind, str, str | None]:
        """``(kind, station, meter)`` for a valid v1 topic; raises ``ValueError`` otherwise."""
        hit = self._topics.get(topic)
        if hit is not None:
            return hit
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] in ("telemetry", "status"):
            kind, meter = Kind(parts[2]), None
        elif len(parts) == 4 and parts[2] == "meter":
            kind, meter = Kind.METER, parts[3]
            if not _ID_RE.fullmatch(meter):
                raise ValueError("meter id must match [A-Za-z0-9_-]{1,64}")
        else:
            raise ValueError(
                "expected {prefix}/{station}/telemetry, .../status or .../meter/{meter}"
            )
        if parts[0] != self.prefix:
            raise ValueError(f"prefix must be {self.prefix!r}")
        if not _ID_RE.fullmatch(parts[1]):
            raise ValueError("station id must match [A-Za-z0-9_-]{1,64}")
        parsed = (kind, parts[1], meter)
        if len(self._topics) >= _CACHE_MAX:
            self._topics.clear()
        self._topics[topic] = parsed
        return parsed

    # -- messages -------------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes) -> Decoded:
        """Decode one MQTT message. Never raises, whatever ``topic`` and ``payload`` hold."""
        out = Decoded()
        now = self.clock()
        if isinstance(payload, bytearray | memoryview):
            payload = bytes(payload)
        elif isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        elif not isinstance(payload, bytes):
            payload = repr(payload).encode("utf-8", "replace")

        if not isinstance(topic, str):
            topic = repr(topic)
        try:
            kind, station, meter = self.parse_topic(topic)
        except ValueError as exc:
            self._reject(out, Reason.BAD_TOPIC, str(exc), topic, None, payload, now)
            return out

        if len(payload) > self.max_payload:
            detail = f"payload is {len(payload)} bytes, limit {self.max_payload}"
            self._reject(out, Reason.TOO_LARGE, detail, topic, station, payload, now, meter)
            return out

        if kind is Kind.STATUS:
            self._decode_status(out, topic, station, payload, now)
            return out

        lenient = False
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            lenient = True
            # Python gateways write NaN/Infinity (json.dumps' default); parse those leniently so
            # the one non-finite value is rejected and the rest of the batch is kept.
            try:
                doc = json.loads(payload, parse_constant=_parse_constant)
            except (ValueError, RecursionError):
                detail = str(exc)
                self._reject(out, Reason.INVALID_JSON, detail, topic, station, payload, now, meter)
                return out

        if type(doc) is dict:
            items: list[Any] = [doc]
            batch = False
        elif type(doc) is list:
            items = doc
            batch = True
        else:
            detail = f"payload is a JSON {json_type(doc)}, not an object or array"
            self._reject(out, Reason.NOT_AN_OBJECT, detail, topic, station, payload, now, meter)
            return out

        self._items(out, items, batch, kind, topic, station, meter, payload, lenient, now)
        return out

    def decode_items(self, topic: str, items: list[Any]) -> Decoded:
        """Decode readings that are already Python objects, as :meth:`decode` decodes the
        elements of a JSON array on ``topic``: the same checks, reasons and details (``[i]``
        prefix included), minus the JSON parsing and the size limit. For callers that build
        readings themselves (``heatwatch import``) and would otherwise serialize them only to
        have them parsed again. Never raises; a topic that is not a telemetry or meter topic
        is one ``bad_topic`` rejection."""
        out = Decoded()
        now = self.clock()
        try:
            kind, station, meter = self.parse_topic(topic)
        except ValueError as exc:
            self._reject(out, Reason.BAD_TOPIC, str(exc), topic, None, b"", now)
            return out
        if kind is Kind.STATUS:
            self._reject(out, Reason.BAD_STATUS, "status is not made of reading objects",
                         topic, station, b"", now)
            return out
        self._items(out, items, True, kind, topic, station, meter, b"", False, now)
        return out

    def _items(
        self,
        out: Decoded,
        items: list[Any],
        batch: bool,
        kind: Kind,
        topic: str,
        station: str,
        meter: str | None,
        payload: bytes,
        lenient: bool,
        now: float,
    ) -> None:
        table, required = _TABLES[kind]
        max_ns = int((now + self.max_future_s) * 1e9)
        min_ns = 0 if self.max_past_s is None else int((now - self.max_past_s) * 1e9)
        readings = out.readings
        for i, obj in enumerate(items):
            try:
                if type(obj) is not dict:
                    raise Invalid(
                        Reason.NOT_AN_OBJECT, f"element is a JSON {json_type(obj)}, not an object"
                    )
                readings.append(self._reading(out, obj, kind, table, required, station, meter,
                                              max_ns, min_ns, topic, now))
            except Invalid as bad:
                detail = f"[{i}] {bad.detail}" if batch else bad.detail
                out.rejections.append(
                    Rejection(bad.reason, detail, topic, station,
                              _value_excerpt(obj, payload, lenient), now, meter,
                              _seq_of(obj))
                )

    def _reading(
        self,
        out: Decoded,
        obj: dict[str, Any],
        kind: Kind,
        table: _Table,
        required: frozenset[str],
        station: str,
        meter: str | None,
        max_ns: int,
        min_ns: int = 0,
        topic: str = "",
        now: float = 0.0,
    ) -> Reading:
        if not obj.keys() >= required:
            missing = ", ".join(sorted(required - obj.keys()))
            raise Invalid(Reason.MISSING_FIELD, f"missing required field(s): {missing}")
        fields: dict[str, FieldValue] = {}
        ts_ns = 0
        seq: int | None = None
        dropped = 0
        extras: list[str] | None = None  # made only for readings that have extras
        for name, v in obj.items():
            spec = table.get(name)
            t = type(v)
            if t is float and spec is not None:  # nearly every field: a float in its range
                check, lo, hi = spec
                if check == NUMBER and lo <= v <= hi:  # NaN fails this and is judged below
                    fields[name] = v
                    continue
            if spec is None:  # an extra field: stored if numeric/boolean with a sane name
                if t is float:
                    ok = v - v == 0.0
                elif t is int:
                    ok = -_FLOAT_MAX <= v <= _FLOAT_MAX
                    v = float(v)
                else:
                    ok = t is bool
                if ok and (name in self._extra_names or self._extra_name_ok(name)):
                    fields[name] = v
                    if extras is None:
                        extras = [name]
                    else:
                        extras.append(name)
                else:
                    dropped += 1
                continue
            check, lo, hi = spec
            if v is None:  # JSON null: "no value" -- absent if optional, missing if required
                if name in required:
                    raise Invalid(Reason.MISSING_FIELD, f"{name} is null")
                dropped += 1
                continue
            if check == NUMBER:
                if (t is float or t is int) and lo <= v <= hi:
                    fields[name] = v if t is float else float(v)  # no call for a float
                else:
                    raise number_problem(name, v, lo, hi)
            elif check == FLAG:
                if t is bool:
                    fields[name] = v
                elif (t is int or t is float) and (v == 0 or v == 1):
                    fields[name] = v == 1
                elif t is int or t is float:
                    raise number_problem(name, v, 0, 1)
                else:
                    raise Invalid(Reason.WRONG_TYPE, f"{name} must be true/false or 0/1, "
                                  f"not {type(v).__name__}")
            elif check == TS:
                ts_ns = parse_timestamp(v, max_ns)
                if ts_ns < min_ns:
                    raise Invalid(Reason.PAST_TIMESTAMP,
                                  f"ts {v!r} is more than max_past_s ({self.max_past_s:g} s) "
                                  "old; load history with heatwatch import")
            elif check == SEQ:
                if t is float and v.is_integer():  # JSON does not tell 5 from 5.0
                    v = int(v)
                elif t is not int:
                    raise Invalid(Reason.WRONG_TYPE, f"seq must be an integer, not {t.__name__}")
                if not 0 <= v < 2**63:
                    raise Invalid(Reason.OUT_OF_RANGE, f"seq {v} outside 0..2^63-1")
                seq = v
        if extras:
            dropped += self._check_extras(out, fields, extras, kind, station, meter, topic, now)
        out.dropped_fields += dropped
        return Reading(kind, station, ts_ns, fields, meter, seq, _field_text(fields))

    def _check_extras(self, out: Decoded, fields: dict[str, FieldValue], extras: list[str],
                      kind: Kind, station: str, meter: str | None, topic: str,
                      now: float) -> int:
        """The limits on extra fields (the reading's count, its station's distinct names) and
        their stored types; returns how many were dropped. Only readings with extras pay."""
        cap = self.max_extra_fields
        if cap is not None and len(extras) > cap:
            raise Invalid(Reason.TOO_MANY_FIELDS, f"{len(extras)} extra fields, limit {cap} "
                          "(validation.max_extra_fields)")
        max_names = self.max_extra_names
        names: set[str] | None = None
        if max_names is not None:
            names = self._station_extras.get(station)
            if names is None:
                names = self._station_extras[station] = set()
        types = self.field_types
        measurement = MEASUREMENTS[kind]
        dropped = 0
        for name in extras:
            if names is not None and name not in names:
                if len(names) >= max_names:  # type: ignore[operator]  # set with names
                    del fields[name]
                    dropped += 1
                    continue
                names.add(name)
            if types is None:
                continue
            value = fields[name]
            have = "boolean" if type(value) is bool else "float"
            key = (measurement, name)
            stored = types.get(key)
            if stored is None:
                types[key] = have
            elif stored != have:
                del fields[name]
                out.field_conflicts.append(Rejection(
                    Reason.FIELD_TYPE_CONFLICT,
                    f"{name} is {have}, stored as {stored} in {measurement}: field dropped, "
                    "reading kept", topic, station, orjson.dumps({name: value}).decode(), now,
                    meter))
        out.capped_fields += dropped
        return dropped

    def _extra_name_ok(self, name: str) -> bool:
        if name in RESERVED_NAMES or not _EXTRA_NAME_RE.fullmatch(name):
            return False
        if len(self._extra_names) < _CACHE_MAX:
            self._extra_names.add(name)
        return True

    def _decode_status(
        self, out: Decoded, topic: str, station: str, payload: bytes, now: float
    ) -> None:
        try:
            state = payload.decode("utf-8").strip().lower()
        except UnicodeDecodeError:
            state = "(not UTF-8)"
        if state in ("online", "offline"):
            fields: dict[str, FieldValue] = {"state": state, "online": state == "online"}
            out.readings.append(Reading(Kind.STATUS, station, int(now * 1e9), fields))
        else:
            detail = "status payload must be 'online' or 'offline'"
            if not payload:
                detail += " (empty: the retained status was cleared)"
            self._reject(out, Reason.BAD_STATUS, detail, topic, station, payload, now)

    @staticmethod
    def _reject(
        out: Decoded,
        reason: Reason,
        detail: str,
        topic: str,
        station: str | None,
        payload: bytes,
        now: float,
        meter: str | None = None,
    ) -> None:
        excerpt = _text_excerpt(payload)
        out.rejections.append(
            Rejection(reason, detail, _clean(topic, TOPIC_CHARS), station, excerpt, now, meter)
        )
