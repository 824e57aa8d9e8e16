"""The Open-Meteo provider against a loopback server speaking the documented response format."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from openmeteo_server import OpenMeteoServer, recorded_response
from prometheus_client import REGISTRY

from forecast.openmeteo import FetchFailed, OpenMeteoPoller, fetch, parse_open_meteo
from forecast.settings import OpenMeteoSettings
from forecast.weather import WeatherForecast
from forecast.wire import ForecastRejected

ISSUED = 1796624100.0  # 2026-12-07T06:15:00Z = 07:15 in Belgrade (CET, +01:00)
H = 3600.0


def settings(server: OpenMeteoServer, **kw: Any) -> OpenMeteoSettings:
    base: dict[str, Any] = {"zone": "nis", "url": server.url, "latitude": 43.32,
                            "longitude": 21.9, "timeout_s": 0.5, "retries": 2,
                            "retry_delay_s": 0.05}
    return OpenMeteoSettings.model_validate(base | kw)


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("heatwatch_forecast_rejected_total",
                                     {"source": "open-meteo", "reason": reason}) or 0.0


def test_local_times_are_converted_with_utc_offset(open_meteo: OpenMeteoServer) -> None:
    # From local midnight, as with forecast_days: the hours before 06:00 UTC are dropped.
    temps: list[float | None] = [float(-i) for i in range(30)]
    open_meteo.answer(recorded_response("2026-12-07T00:00", temps))
    with httpx.Client() as client:
        f = fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert (f.zone, f.source, f.issued_at) == ("nis", "open-meteo", ISSUED)
    # 07:00 local = 06:00 UTC (1796623200), the issue's own hour, is the first point kept.
    assert f.points[0].at == 1796623200.0
    assert f.points[0].outdoor_temp == -7.0
    assert len(f.points) == 30 - 7
    req = open_meteo.requests[0]
    assert req["path"] == ["/v1/forecast"]
    assert req["hourly"] == ["temperature_2m"] and req["forecast_hours"] == ["48"]
    assert req["latitude"] == ["43.3200"] and req["longitude"] == ["21.9000"]


def test_unixtime_and_null_hours(open_meteo: OpenMeteoServer) -> None:
    temps: list[float | None] = [1.0, 2.0, None, 4.0, None]
    open_meteo.answer(recorded_response("2026-12-07T07:00", temps, unixtime=True))
    with httpx.Client() as client:
        f = fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert [(p.at, p.outdoor_temp) for p in f.points] == [
        (1796623200.0, 1.0), (1796623200.0 + H, 2.0), (1796623200.0 + 3 * H, 4.0)]


def test_gmt_response(open_meteo: OpenMeteoServer) -> None:
    open_meteo.answer(recorded_response("2026-12-07T06:00", [3.0, 4.0], timezone="GMT",
                                        offset_s=0))
    with httpx.Client() as client:
        f = fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert f.points[0].at == 1796623200.0 and f.at(1796623200.0 + H / 2) == 3.5


def test_bad_payload_is_counted_and_retried(open_meteo: OpenMeteoServer) -> None:
    before = (rejected("invalid_json"), rejected("missing_field"))
    open_meteo.answer(raw=b'{"hourly": {"time": ["2026-12-07T07:00"')
    open_meteo.answer({"latitude": 43.3, "utc_offset_seconds": 3600})
    open_meteo.answer(recorded_response("2026-12-07T07:00", [1.0]))
    with httpx.Client() as client:
        f = fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert f.points[0].outdoor_temp == 1.0
    assert (rejected("invalid_json"), rejected("missing_field")) == (before[0] + 1,
                                                                     before[1] + 1)
    assert len(open_meteo.requests) == 3


def test_timeout_is_retried(open_meteo: OpenMeteoServer) -> None:
    before = rejected("unreachable")
    open_meteo.answer(recorded_response("2026-12-07T07:00", [9.0]), delay_s=1.5)
    open_meteo.answer(recorded_response("2026-12-07T07:00", [1.0]))
    with httpx.Client() as client:
        f = fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert f.points[0].outdoor_temp == 1.0
    assert rejected("unreachable") == before + 1


def test_gives_up_after_the_retries(open_meteo: OpenMeteoServer) -> None:
    before = rejected("http_status")
    for _ in range(3):
        open_meteo.answer({"error": True, "reason": "overloaded"}, status=503)
    failures = REGISTRY.get_sample_value("heatwatch_forecast_fetch_failures_total",
                                         {"zone": "nis"}) or 0.0
    with httpx.Client() as client, pytest.raises(FetchFailed, match="HTTP 503"):
        fetch(client, settings(open_meteo), clock=lambda: ISSUED)
    assert len(open_meteo.requests) == 3
    assert rejected("http_status") == before + 3
    assert REGISTRY.get_sample_value("heatwatch_forecast_fetch_failures_total",
                                     {"zone": "nis"}) == failures + 1


def test_unreachable_server_fails_cleanly() -> None:
    om = OpenMeteoSettings(zone="nis", url="http://127.0.0.1:9/v1/forecast", latitude=1,
                           longitude=1, retries=0, timeout_s=0.5)
    with httpx.Client() as client, pytest.raises(FetchFailed, match="unreachable"):
        fetch(client, om)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d: d.update(error=True, reason="Latitude must be in range"), "provider_error"),
    (lambda d: d["hourly"].pop("temperature_2m"), "missing_field"),
    (lambda d: d["hourly"]["temperature_2m"].append(1.0), "bad_field"),
    (lambda d: d["hourly_units"].update(temperature_2m="°F"), "bad_field"),
    (lambda d: d.pop("utc_offset_seconds"), "bad_field"),
    (lambda d: d["hourly"]["time"].reverse(), "not_increasing"),
    (lambda d: d["hourly"]["time"].__setitem__(0, "07:00"), "bad_timestamp"),
    (lambda d: d["hourly"]["temperature_2m"].__setitem__(0, "cold"), "bad_field"),
    (lambda d: d["hourly"]["temperature_2m"].__setitem__(0, 280.0), "out_of_range"),
    (lambda d: d["hourly"].update(time=["2026-12-06T00:00", "2026-12-06T01:00"]), "no_points"),
])
def test_parse_rejections(mutate: Any, reason: str) -> None:
    doc = recorded_response("2026-12-07T07:00", [1.0, 2.0])
    mutate(doc)
    with pytest.raises(ForecastRejected) as exc:
        parse_open_meteo(doc, "nis", ISSUED)
    assert exc.value.reason == reason
    with pytest.raises(ForecastRejected, match="not_an_object"):
        parse_open_meteo([doc], "nis", ISSUED)


def test_poller_polls_on_schedule_and_survives_failures(open_meteo: OpenMeteoServer) -> None:
    got: list[WeatherForecast] = []
    two = threading.Event()

    def deliver(f: WeatherForecast) -> None:
        got.append(f)
        if len(got) == 2:
            two.set()

    open_meteo.answer(recorded_response("2026-12-07T07:00", [1.0]))
    open_meteo.answer(raw=b"not json")  # the second poll fails completely (retries=0)
    open_meteo.answer(recorded_response("2026-12-07T07:00", [3.0]))
    poller = OpenMeteoPoller([settings(open_meteo, interval_s=1, retries=0)], deliver,
                             clock=lambda: ISSUED)
    poller.start()
    try:
        assert two.wait(10)
    finally:
        poller.stop()
    assert [f.points[0].outdoor_temp for f in got] == [1.0, 3.0]
    assert len(open_meteo.requests) == 3
