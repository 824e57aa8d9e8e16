"""Wire format v1 vocabulary: kinds, rejection reasons, the field table and timestamp parsing.

The field table is the single source of the units and physical ranges: the decoder compiles it,
and tests hold the JSON Schema and docs/wire-format.md to it. Import these names from
:mod:`heatwatch.wire`; they live here only to keep each module small.

A range is a sanity bound, not an alarm threshold: a value outside it cannot be a real
measurement (a disconnected PT100 reads -39.9 or 850 deg C, a bad Modbus register 65535), so
storing it would only poison graphs and alert rules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "FIELDS",
    "FLAG",
    "MIN_TS_NS",
    "MS_CUTOFF",
    "NUMBER",
    "SEQ",
    "TS",
    "FieldSpec",
    "Invalid",
    "Kind",
    "Reason",
    "json_type",
    "number_problem",
    "parse_timestamp",
]


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
    PAST_TIMESTAMP = "past_timestamp"
    TOO_MANY_FIELDS = "too_many_fields"
    FIELD_TYPE_CONFLICT = "field_type_conflict"
    BAD_STATUS = "bad_status"


class Invalid(Exception):
    """Raised inside the decoder for one bad reading; never escapes :meth:`Decoder.decode`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# Check codes (ints, compared on the hot path).
NUMBER, FLAG, SEQ, TS = 0, 1, 2, 3
_FLOAT_MAX = 1.7976931348623157e308


@dataclass(frozen=True, slots=True)
class FieldSpec:
    check: int  # NUMBER, FLAG, SEQ or TS
    unit: str = ""
    lo: float = -_FLOAT_MAX
    hi: float = _FLOAT_MAX
    required: bool = False
    description: str = ""


def _num(unit: str, lo: float, hi: float, description: str, required: bool = False) -> FieldSpec:
    return FieldSpec(NUMBER, unit, lo, hi, required, description)


_TS_SPEC = FieldSpec(TS, required=True, description="reading time")
_SEQ_SPEC = FieldSpec(SEQ, "", 0, 2**63 - 1, description="per-station/meter counter")
_WATER = (-50.0, 200.0)
_PRESSURE = (-1.0, 25.0)
_FLOW = (0.0, 100_000.0)
_ENERGY = (0.0, _FLOAT_MAX)

FIELDS: dict[Kind, dict[str, FieldSpec]] = {
    Kind.TELEMETRY: {
        "ts": _TS_SPEC,
        "seq": _SEQ_SPEC,
        "supply_temp": _num("°C", *_WATER, "secondary supply temperature", True),
        "return_temp": _num("°C", *_WATER, "secondary return temperature", True),
        "supply_setpoint": _num("°C", *_WATER, "the station controller's secondary supply target"),
        "pump_running": FieldSpec(FLAG, description="circulation pump on (absent: unknown)"),
        "primary_supply_temp": _num("°C", *_WATER, "primary supply temperature"),
        "primary_return_temp": _num("°C", *_WATER, "primary return temperature"),
        "supply_pressure": _num("bar", *_PRESSURE, "secondary supply pressure (gauge)"),
        "return_pressure": _num("bar", *_PRESSURE, "secondary return pressure (gauge)"),
        "primary_supply_pressure": _num("bar", *_PRESSURE, "primary supply pressure (gauge)"),
        "primary_return_pressure": _num("bar", *_PRESSURE, "primary return pressure (gauge)"),
        "flow": _num("m³/h", *_FLOW, "secondary flow"),
        "primary_flow": _num("m³/h", *_FLOW, "primary flow"),
        "makeup_flow": _num("m³/h", 0.0, 10_000.0, "make-up water flow"),
        "tank_level": _num("m", 0.0, 100.0, "expansion tank level"),
        "pump_freq": _num("Hz", 0.0, 100.0, "pump drive frequency"),
        "heat_power": _num("kW", -1e6, 1e6, "heat power"),
        "heat_energy": _num("kWh", *_ENERGY, "heat energy, cumulative"),
        "outdoor_temp": _num("°C", -60.0, 60.0, "outdoor temperature"),
        "power_ok": FieldSpec(FLAG, description="mains power present"),
    },
    Kind.METER: {
        "ts": _TS_SPEC,
        "seq": _SEQ_SPEC,
        "indoor_temp": _num("°C", -30.0, 60.0, "flat indoor temperature", True),
        "humidity": _num("%", 0.0, 100.0, "relative humidity"),
        "supply_temp": _num("°C", *_WATER, "flat heat meter supply temperature"),
        "return_temp": _num("°C", *_WATER, "flat heat meter return temperature"),
        "flow": _num("m³/h", *_FLOW, "flat heat meter flow"),
        "heat_energy": _num("kWh", *_ENERGY, "flat heat meter energy, cumulative"),
    },
}


def number_problem(name: str, value: object, lo: float, hi: float) -> Invalid:
    """The verdict for a value that failed a numeric field's fast check."""
    if type(value) is not float and type(value) is not int:
        return Invalid(Reason.WRONG_TYPE, f"{name} must be a number, not {json_type(value)}")
    if type(value) is float and value - value != 0.0:
        return Invalid(Reason.NOT_FINITE, f"{name} is {value}")
    return Invalid(Reason.OUT_OF_RANGE, f"{name} {value} outside {lo:g}..{hi:g}")


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for rejection details."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


# -- timestamps -------------------------------------------------------------------------------

MS_CUTOFF = 100_000_000_000  # numbers below are epoch seconds, from here on milliseconds
MIN_TS_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(value: object, max_ns: int) -> int:
    """``ts`` as integer nanoseconds since the epoch, or :class:`Invalid`.

    Strings are RFC 3339 with a ``Z`` or ``±hh:mm`` offset and up to 9 fraction digits (kept
    exactly). Numbers are epoch seconds below :data:`MS_CUTOFF` (1e11 s is the year 5138) and
    epoch milliseconds from there (1e11 ms is 1973, before the 2000 floor, so nothing valid is
    ambiguous); integers are converted exactly, floats to the nearest microsecond.
    """
    if isinstance(value, bool):
        raise Invalid(Reason.BAD_TIMESTAMP, "ts must be an RFC 3339 string or epoch number, "
                      "not boolean")
    if isinstance(value, int):
        ns = value * 1_000_000_000 if value < MS_CUTOFF else value * 1_000_000
    elif isinstance(value, float):
        if value - value != 0.0:
            raise Invalid(Reason.NOT_FINITE, f"ts is {value}")
        if value < 0.0 or value >= 1e15:  # far outside any valid time: no fraction needed,
            ns = int(value) * (10**9 if value < 0.0 else 10**6)  # and value * 1e6 could overflow
        elif value < MS_CUTOFF:
            ns = round(value * 1e6) * 1000
        else:
            ns = round(value * 1e3) * 1000
    elif isinstance(value, str):
        ns = _parse_rfc3339(value)
    else:
        raise Invalid(
            Reason.BAD_TIMESTAMP,
            f"ts must be an RFC 3339 string or epoch number, not {json_type(value)}",
        )
    if ns < MIN_TS_NS:
        raise Invalid(Reason.BAD_TIMESTAMP, f"ts {_short(value)} is before 2000-01-01")
    if ns > max_ns:
        raise Invalid(Reason.FUTURE_TIMESTAMP, f"ts {_short(value)} is in the future")
    return ns


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_rfc3339(text: str) -> int:
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise Invalid(
            Reason.BAD_TIMESTAMP,
            f"ts {_short(text)} is not RFC 3339 with an offset (like 2026-01-31T06:00:00Z)",
        )
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise Invalid(Reason.BAD_TIMESTAMP, f"ts {_short(text)}: {exc}") from None
    h, mi, s = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or s > 60:  # 60: a leap second, counted as the next second
        raise Invalid(Reason.BAD_TIMESTAMP, f"ts {_short(text)}: time of day out of range")
    secs = days * 86400 + h * 3600 + mi * 60 + s
    if sign is not None:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            raise Invalid(Reason.BAD_TIMESTAMP, f"ts {_short(text)}: offset out of range")
        offset = oh * 3600 + om * 60
        secs += -offset if sign == "+" else offset
    frac_ns = int(frac.ljust(9, "0")) if frac else 0
    return secs * 1_000_000_000 + frac_ns
