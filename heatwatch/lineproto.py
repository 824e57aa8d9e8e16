"""InfluxDB line protocol: generic formatting, and how wire readings map onto it.

The storage mapping (:func:`to_line`, :func:`lines_for`, re-exported by :mod:`heatwatch.wire`)
lives here rather than next to the decoder so each module stays small; docs/wire-format.md
describes it under "Storage in InfluxDB".

Escaping follows the InfluxDB 1.x/2.x line protocol reference: measurement names escape commas
and spaces; tag keys, tag values and field keys escape commas, equals signs and spaces; string
field values escape double quotes and backslashes. Newlines cannot be represented in names or
tags at all, so they are refused rather than written as a line InfluxDB would split in two.

Floats are written with :func:`repr` (the shortest text that reads back to the same double), so
``70.0`` stays a float even when the JSON said ``70``: a measurement's field must keep one type
forever, or InfluxDB refuses later points with a "field type conflict". Readings from the
decoder arrive with their field set already written (``Reading.text``, by orjson: the same
digits, faster); :func:`to_line` uses it and formats ``fields`` only for readings built by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from heatwatch.readings import Decoded, Reading
from heatwatch.registry import Registry
from heatwatch.wirefields import Kind

__all__ = [
    "MEASUREMENTS",
    "escape_field_key",
    "escape_measurement",
    "escape_string_value",
    "escape_tag",
    "format_fields",
    "format_line",
    "lines_for",
    "series_key",
    "to_line",
]

MEASUREMENTS = {Kind.TELEMETRY: "telemetry", Kind.METER: "meter", Kind.STATUS: "station_status"}

_TAG_TABLE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_MEASUREMENT_TABLE = str.maketrans({",": r"\,", " ": r"\ "})
_STRING_TABLE = str.maketrans({"\\": "\\\\", '"': '\\"'})
_NEEDS_TAG_ESCAPE = frozenset(", =")

# Field keys repeat on every line; escaping each of them every time would be wasted work.
_key_cache: dict[str, str] = {}
_KEY_CACHE_MAX = 4096
_SERIES_CACHE_MAX = 65536


def _check_no_newline(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} {text!r} contains a line break, which line protocol cannot carry")


def escape_measurement(name: str) -> str:
    _check_no_newline(name, "measurement")
    return name.translate(_MEASUREMENT_TABLE)


def escape_tag(text: str) -> str:
    """Escape a tag key or tag value (also right for field keys)."""
    if _NEEDS_TAG_ESCAPE.isdisjoint(text) and "\n" not in text and "\r" not in text:
        return text
    _check_no_newline(text, "tag or key")
    return text.translate(_TAG_TABLE)


def escape_field_key(key: str) -> str:
    cached = _key_cache.get(key)
    if cached is not None:
        return cached
    escaped = escape_tag(key)
    if len(_key_cache) < _KEY_CACHE_MAX:
        _key_cache[key] = escaped
    return escaped


def escape_string_value(text: str) -> str:
    """The quoted form of a string field value."""
    return '"' + text.translate(_STRING_TABLE) + '"'


def _field_value(value: float | int | bool | str) -> str:
    # bool before int: True is an int in Python but a boolean in InfluxDB.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        if value - value != 0.0:  # NaN or +-Infinity: InfluxDB cannot store them
            raise ValueError(f"field value {value!r} is not finite")
        return repr(value)
    if type(value) is int:
        return f"{value}i"
    if type(value) is str:
        return escape_string_value(value)
    raise TypeError(f"unsupported field value type {type(value).__name__}")


def series_key(measurement: str, tags: Iterable[tuple[str, str]]) -> str:
    """Measurement and tags, escaped: the part of a line before the first unescaped space.
    ``tags`` are written in the order given (pass them sorted by key, as InfluxDB recommends);
    empty tag values are left out, since line protocol cannot carry them."""
    head = escape_measurement(measurement)
    return head + "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in tags if v != "")


def format_fields(fields: Mapping[str, float | int | bool | str]) -> str:
    """The field set of a line. Python ``int`` values become integer fields (``12i``),
    ``float`` values float fields, ``bool`` values booleans and ``str`` values quoted strings."""
    if not fields:
        raise ValueError("a line protocol point needs at least one field")
    parts = []
    for key, value in fields.items():
        ek = _key_cache.get(key)
        if ek is None:
            ek = escape_field_key(key)
        # Finite floats and booleans are nearly every field: format them inline.
        if type(value) is float and value - value == 0.0:
            parts.append(f"{ek}={value!r}")
        elif type(value) is bool:
            parts.append(f"{ek}=true" if value else f"{ek}=false")
        else:
            parts.append(f"{ek}={_field_value(value)}")
    return ",".join(parts)


def format_line(
    measurement: str,
    tags: Iterable[tuple[str, str]],
    fields: Mapping[str, float | int | bool | str],
    ts_ns: int,
) -> str:
    """One line of line protocol; see :func:`series_key` and :func:`format_fields`.
    ``ts_ns`` is in nanoseconds."""
    return f"{series_key(measurement, tags)} {format_fields(fields)} {int(ts_ns)}"


# -- wire readings ----------------------------------------------------------------------------

# Series keys repeat for every reading of a station; building and escaping them once pays.
_series_cache: dict[tuple[Kind, str, str | None, str], str] = {}


def to_line(reading: Reading, zone: str) -> str:
    """The reading as one InfluxDB line: measurement per kind, tags sorted by key, ``seq`` as an
    integer field, everything else as stored in ``reading.fields``.

    Raises ``ValueError`` for a reading the decoder would never produce (no fields, a
    non-finite float, a line break in a tag).
    """
    return _line(_series_of(reading.kind, reading.station, reading.meter, zone), reading)


def _series_of(kind: Kind, station: str, meter: str | None, zone: str) -> str:
    key = (kind, station, meter, zone)
    series = _series_cache.get(key)
    if series is None:
        tags = [("station", station), ("zone", zone)]
        if meter is not None:
            tags.insert(0, ("meter", meter))
        series = series_key(MEASUREMENTS[kind], tags)
        if len(_series_cache) >= _SERIES_CACHE_MAX:
            _series_cache.clear()
        _series_cache[key] = series
    return series


def _line(series: str, reading: Reading) -> str:
    # seq goes last, as an integer field; appended as text rather than by copying the fields
    # into a new dict for every reading. ``text`` is the field set the decoder already wrote.
    if not reading.fields:
        if reading.seq is None:
            raise ValueError("a line protocol point needs at least one field")
        return f"{series} seq={reading.seq}i {reading.ts_ns}"
    body = reading.text or format_fields(reading.fields)
    if reading.seq is None:
        return f"{series} {body} {reading.ts_ns}"
    return f"{series} {body},seq={reading.seq}i {reading.ts_ns}"


def lines_for(decoded: Decoded, registry: Registry) -> list[str]:
    """Line protocol for every reading of ``decoded``, zoned by ``registry`` (a station missing
    from it is stored under zone ``unassigned``)."""
    readings = decoded.readings
    if not readings:
        return []
    # One message is one topic: every reading shares kind, station and meter, so the series
    # (measurement and tags) is built or looked up once, not once per reading.
    first = readings[0]
    kind, station, meter = first.kind, first.station, first.meter
    series = _series_of(kind, station, meter, registry.zone_of(station))
    lines = []
    for r in readings:
        if r.station != station or r.meter != meter or r.kind is not kind:  # hand-built input
            kind, station, meter = r.kind, r.station, r.meter
            series = _series_of(kind, station, meter, registry.zone_of(station))
        lines.append(_line(series, r))
    return lines
