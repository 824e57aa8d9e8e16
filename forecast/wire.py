"""The forecast message on MQTT: topic ``{prefix}/_weather/{zone}/forecast``, JSON version 1.

docs/forecast.md is the reference; ``heatwatch/schemas/weather-forecast-v1.schema.json``
describes an accepted payload and ``tests/forecast/golden/`` holds worked examples. Decoding
never raises anything but :class:`ForecastRejected`, whose ``reason`` is a short stable word
(counted per reason in the metrics) and ``detail`` says what exactly was wrong.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from importlib import resources
from typing import Any

import orjson

from forecast.weather import SOURCES, ForecastPoint, WeatherForecast
from heatwatch.wirefields import Invalid, parse_timestamp

__all__ = [
    "FORMAT_VERSION",
    "ForecastRejected",
    "decode_forecast",
    "encode_forecast",
    "forecast_topic",
    "load_forecast_schema",
    "subscription",
    "zone_of_topic",
]

FORMAT_VERSION = 1
SCHEMA_RESOURCE = "weather-forecast-v1.schema.json"
WEATHER_LEVEL = "_weather"
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A forecast point outside this range is a unit mix-up or a broken feed, not weather.
TEMP_MIN, TEMP_MAX = -80.0, 70.0
# Target times allowed around the issue time: a little analysis before it, 16 days after.
BEFORE_ISSUE_S = 24 * 3600.0
AFTER_ISSUE_S = 17 * 86400.0
_FIELDS = frozenset({"v", "issued_at", "source", "points"})
_POINT_FIELDS = frozenset({"at", "outdoor_temp"})


class ForecastRejected(ValueError):
    """A forecast message we will not use; ``reason`` is one word for the metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def forecast_topic(prefix: str, zone: str) -> str:
    return f"{prefix}/{WEATHER_LEVEL}/{zone}/forecast"


def subscription(prefix: str) -> str:
    return f"{prefix}/{WEATHER_LEVEL}/+/forecast"


def zone_of_topic(prefix: str, topic: str) -> str:
    parts = topic.split("/")
    if (len(parts) != 4 or parts[0] != prefix or parts[1] != WEATHER_LEVEL
            or parts[3] != "forecast"):
        raise ForecastRejected("bad_topic", f"expected {forecast_topic(prefix, '{zone}')}")
    if not _ID_RE.fullmatch(parts[2]):
        raise ForecastRejected("bad_topic", "zone must match [A-Za-z0-9_-]{1,64}")
    return parts[2]


def _time(name: str, value: object, max_ns: int) -> float:
    try:
        return parse_timestamp(value, max_ns) / 1e9
    except Invalid as exc:
        reason = "future_timestamp" if exc.reason.value == "future_timestamp" else "bad_timestamp"
        raise ForecastRejected(reason, f"{name}: {exc.detail}") from None


def decode_forecast(
    topic: str, payload: bytes, *, prefix: str, now: float, max_payload: int = 65536,
    max_points: int = 384, max_future_s: float = 600.0,
) -> WeatherForecast:
    """One message as a forecast, or :class:`ForecastRejected` (never another exception)."""
    zone = zone_of_topic(prefix, topic)
    if len(payload) > max_payload:
        raise ForecastRejected("too_large", f"{len(payload)} bytes > max_payload {max_payload}")
    try:
        doc: Any = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ForecastRejected("invalid_json", str(exc)[:200]) from None
    if not isinstance(doc, dict):
        raise ForecastRejected("not_an_object", "the payload must be a JSON object")
    version = doc.get("v")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ForecastRejected("bad_version", f"v must be {FORMAT_VERSION}, got {version!r}"[:200])
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise ForecastRejected("unknown_field", f"unknown field(s) {unknown}"[:200])
    for name in ("issued_at", "points"):
        if doc.get(name) is None:
            raise ForecastRejected("missing_field", f"{name} is required")
    issued_at = _time("issued_at", doc["issued_at"], int((now + max_future_s) * 1e9))
    source = doc.get("source", "mqtt")
    if source not in SOURCES:
        raise ForecastRejected("bad_field", f"source must be one of {list(SOURCES)}")
    raw_points = doc["points"]
    if not isinstance(raw_points, list) or not raw_points:
        raise ForecastRejected("bad_field", "points must be a non-empty array")
    if len(raw_points) > max_points:
        raise ForecastRejected("too_many_points", f"{len(raw_points)} > max_points {max_points}")
    points: list[ForecastPoint] = []
    lo, hi = issued_at - BEFORE_ISSUE_S, issued_at + AFTER_ISSUE_S
    for i, raw in enumerate(raw_points):
        points.append(_point(i, raw, lo, hi, points[-1].at if points else -math.inf))
    return WeatherForecast(zone, issued_at, str(source), tuple(points))


def _point(i: int, raw: object, lo: float, hi: float, previous: float) -> ForecastPoint:
    if not isinstance(raw, dict):
        raise ForecastRejected("bad_field", f"points[{i}] must be an object")
    unknown = sorted(set(raw) - _POINT_FIELDS)
    if unknown:
        raise ForecastRejected("unknown_field", f"points[{i}]: unknown field(s) {unknown}"[:200])
    if raw.get("at") is None or raw.get("outdoor_temp") is None:
        raise ForecastRejected("missing_field", f"points[{i}] needs at and outdoor_temp")
    at = _time(f"points[{i}].at", raw["at"], 2**63 - 1)
    if not lo <= at <= hi:
        raise ForecastRejected("out_of_range",
                               f"points[{i}].at is not within 24 h before to 17 days after "
                               "issued_at")
    if at <= previous:
        raise ForecastRejected("not_increasing", f"points[{i}].at is not after points[{i - 1}]")
    temp = raw["outdoor_temp"]
    if isinstance(temp, bool) or not isinstance(temp, int | float):
        raise ForecastRejected("bad_field", f"points[{i}].outdoor_temp must be a number")
    if not TEMP_MIN <= temp <= TEMP_MAX:
        raise ForecastRejected(
            "out_of_range", f"points[{i}].outdoor_temp {temp} outside {TEMP_MIN:g}..{TEMP_MAX:g}")
    return ForecastPoint(at, float(temp))


def _rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def encode_forecast(f: WeatherForecast) -> bytes:
    """The version-1 payload of ``f`` (RFC 3339 UTC times), as publishers should send it."""
    return orjson.dumps({
        "v": FORMAT_VERSION,
        "issued_at": _rfc3339(f.issued_at),
        "source": f.source,
        "points": [{"at": _rfc3339(p.at), "outdoor_temp": round(p.outdoor_temp, 2)}
                   for p in f.points],
    })


def load_forecast_schema() -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of a version-1 payload (package data of heatwatch)."""
    raw = resources.files("heatwatch.schemas").joinpath(SCHEMA_RESOURCE).read_bytes()
    schema: dict[str, Any] = orjson.loads(raw)
    return schema
