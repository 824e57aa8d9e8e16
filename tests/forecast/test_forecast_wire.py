"""The MQTT forecast message: golden cases, the JSON Schema, and every rejection reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from forecast.weather import ForecastPoint, WeatherForecast
from forecast.wire import (
    ForecastRejected,
    decode_forecast,
    encode_forecast,
    forecast_topic,
    load_forecast_schema,
    subscription,
    zone_of_topic,
)
from heatwatch.wirefields import parse_timestamp

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))
NOW = 1796623500.0  # 2026-12-07T06:05:00Z
TOPIC = "heat/_weather/z1/forecast"


def _now(value: object) -> float:
    return parse_timestamp(value, 2**62) / 1e9


def payload(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"v": 1, "issued_at": 1796623200,
                           "points": [{"at": 1796626800, "outdoor_temp": 1.0},
                                      {"at": 1796630400, "outdoor_temp": 0.0}]}
    doc.update(overrides)
    return doc


def decode(doc: object, topic: str = TOPIC, **kw: Any) -> WeatherForecast:
    return decode_forecast(topic, orjson.dumps(doc), prefix="heat", now=NOW, **kw)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    raw = orjson.dumps(case["payload"])
    expect = case["expect"]
    schema_ok = jsonschema.Draft202012Validator(load_forecast_schema()).is_valid(case["payload"])
    if "reject" in expect:
        with pytest.raises(ForecastRejected) as exc:
            decode_forecast(case["topic"], raw, prefix="heat", now=_now(case["now"]))
        assert exc.value.reason == expect["reject"]
        return
    f = decode_forecast(case["topic"], raw, prefix="heat", now=_now(case["now"]))
    assert schema_ok
    assert (f.zone, f.issued_at, f.source) == (expect["zone"], expect["issued_at"],
                                                expect["source"])
    assert [[p.at, p.outdoor_temp] for p in f.points] == expect["points"]


def test_schema_is_valid_and_refuses_what_it_can() -> None:
    schema = load_forecast_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid(payload())
    for bad in (payload(v=2), payload(points=[]), payload(extra=1),
                payload(points=[{"at": 1796626800, "outdoor_temp": 100}]),
                payload(issued_at="2026-12-07 06:00"), payload(source="radio")):
        assert not v.is_valid(bad), bad


def test_encode_decode_round_trip() -> None:
    f = WeatherForecast("z1", 1796623200.0, "sim", (
        ForecastPoint(1796626800.0, -3.25), ForecastPoint(1796630400.0, 12.0)))
    raw = encode_forecast(f)
    assert jsonschema.Draft202012Validator(load_forecast_schema()).is_valid(orjson.loads(raw))
    assert decode_forecast(TOPIC, raw, prefix="heat", now=NOW) == f


def test_topics() -> None:
    assert forecast_topic("heat", "z1") == TOPIC
    assert subscription("heat") == "heat/_weather/+/forecast"
    assert zone_of_topic("heat", TOPIC) == "z1"
    for bad in ("heat/_weather/z1", "other/_weather/z1/forecast", "heat/_weather/+/forecast",
                "heat/z1/_weather/forecast", "heat/_weather//forecast", "heat/_weather/z1/fc"):
        with pytest.raises(ForecastRejected, match="bad_topic"):
            zone_of_topic("heat", bad)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{", "invalid_json"),
    (b"[1]", "not_an_object"),
    (b'{"v": 1, "issued_at": NaN, "points": []}', "invalid_json"),
    (orjson.dumps(payload(v=True)), "bad_version"),
    (orjson.dumps(payload(v="1")), "bad_version"),
    (orjson.dumps(payload(points=None)), "missing_field"),
    (orjson.dumps({"v": 1, "points": [{"at": 1796626800, "outdoor_temp": 1}]}), "missing_field"),
    (orjson.dumps(payload(station="S1")), "unknown_field"),
    (orjson.dumps(payload(source="radio")), "bad_field"),
    (orjson.dumps(payload(points={})), "bad_field"),
    (orjson.dumps(payload(points=[])), "bad_field"),
    (orjson.dumps(payload(points=[1])), "bad_field"),
    (orjson.dumps(payload(points=[{"at": 1796626800}])), "missing_field"),
    (orjson.dumps(payload(points=[{"at": 1796626800, "outdoor_temp": 1, "rain": 0}])),
     "unknown_field"),
    (orjson.dumps(payload(points=[{"at": 1796626800, "outdoor_temp": "1"}])), "bad_field"),
    (orjson.dumps(payload(points=[{"at": 1796626800, "outdoor_temp": True}])), "bad_field"),
    (orjson.dumps(payload(points=[{"at": "tomorrow", "outdoor_temp": 1}])), "bad_timestamp"),
    (orjson.dumps(payload(issued_at=12)), "bad_timestamp"),
    (orjson.dumps(payload(points=[{"at": 1796623200 + 18 * 86400, "outdoor_temp": 1}])),
     "out_of_range"),
    (orjson.dumps(payload(points=[{"at": 1796623200 - 25 * 3600, "outdoor_temp": 1}])),
     "out_of_range"),
    (orjson.dumps(payload(points=[{"at": 1796626800, "outdoor_temp": -81}])), "out_of_range"),
])
def test_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(ForecastRejected) as exc:
        decode_forecast(TOPIC, raw, prefix="heat", now=NOW)
    assert exc.value.reason == reason
    assert exc.value.detail


def test_limits() -> None:
    pts = [{"at": 1796626800 + i * 3600, "outdoor_temp": 1} for i in range(10)]
    assert len(decode(payload(points=pts), max_points=10).points) == 10
    with pytest.raises(ForecastRejected, match="too_many_points"):
        decode(payload(points=pts), max_points=9)
    with pytest.raises(ForecastRejected, match="too_large"):
        decode(payload(points=pts), max_payload=100)
