"""weather_forecast in the real InfluxDB: every issue kept, replayed as known then, judged."""

from __future__ import annotations

import pytest
from forecast_helpers import T0, H, issue, querier, writer

from forecast.store import (
    actual_outdoor,
    error_by_lead,
    forecast_lines,
    load_book,
    load_forecasts,
)
from heatwatch.lineproto import format_line
from heatwatch.local.servers import InfluxServer


def test_lines_carry_tags_fields_and_target_time() -> None:
    f = issue("z1", T0 + 600, [-1.5, -2.0])
    lines = forecast_lines(f)
    assert lines[0] == ("weather_forecast,lead=1,source=mqtt,zone=z1 issued_at=1796602200.0,"
                        "lead_h=0.8333,outdoor_temp=-1.5 1796605200000000000")
    assert lines[1].startswith("weather_forecast,lead=2,")


def test_round_trip(influx: InfluxServer, database: str) -> None:
    f = issue("z1", T0 + 600, [-1.5, -2.0, -2.5], source="open-meteo")
    writer(influx, database)(forecast_lines(f))
    assert influx.count("weather_forecast", "outdoor_temp", db=database) == 3
    got = load_forecasts(querier(influx, database), T0, T0 + 10 * H)
    assert got == [f]


def test_overlapping_issues_are_all_kept_and_replayed_as_known(influx: InfluxServer,
                                                              database: str) -> None:
    # Hourly issues, 12 h each: every target hour is forecast by up to 12 issues.
    issues = [issue("z1", T0 + k * H + 300, [float(k * 100 + i) for i in range(12)])
              for k in range(24)]
    issues += [issue("z2", T0 + k * 6 * H, [50.0] * 12) for k in range(4)]
    write = writer(influx, database)
    for f in issues:
        write(forecast_lines(f))
    book = load_book(querier(influx, database), T0, T0 + 24 * H, horizon_s=12 * H)
    assert book.issues("z1") == issues[:24]
    assert book.issues("z2") == issues[24:]
    for t in (T0 + 300, T0 + 5.5 * H, T0 + 23.9 * H):
        known = book.as_known_at("z1", t)
        assert known is not None and known.issued_at <= t < known.issued_at + H
        assert known == issues[int((t - T0 - 300) // H)]
    assert book.as_known_at("z1", T0) is None  # nothing was issued yet: no peeking ahead
    only_z2 = load_book(querier(influx, database), T0, T0 + 24 * H, zone="z2")
    assert only_z2.zones() == ["z2"]


def test_load_reads_in_chunks(influx: InfluxServer, database: str) -> None:
    f = issue("z1", T0, [float(i) for i in range(48)])
    writer(influx, database)(forecast_lines(f))
    got = load_forecasts(querier(influx, database), T0, T0 + 49 * H, chunk_s=5 * H)
    assert got == [f]


def test_a_later_issue_of_the_same_clock_hour_replaces_the_earlier(influx: InfluxServer,
                                                                 database: str) -> None:
    write = writer(influx, database)
    write(forecast_lines(issue("z1", T0 + 60, [1.0, 1.0])))
    write(forecast_lines(issue("z1", T0 + 1800, [2.0, 2.0])))
    got = load_forecasts(querier(influx, database), T0, T0 + 5 * H)
    assert [(f.issued_at, [p.outdoor_temp for p in f.points]) for f in got] == [
        (T0 + 1800, [2.0, 2.0])]


def test_error_by_lead_against_measured_outdoor(influx: InfluxServer, database: str) -> None:
    write = writer(influx, database)
    # Measured: two stations of z1 around each hour (means -4.0 at every whole hour), one of
    # z2 (no forecasts there), readings every 10 min.
    lines = []
    for k in range(-1, 30 * 6):
        t = T0 + k * 600
        lines.append(format_line("telemetry", [("station", "S1"), ("zone", "z1")],
                                 {"outdoor_temp": -3.0}, round(t * 1e9)))
        lines.append(format_line("telemetry", [("station", "S2"), ("zone", "z1")],
                                 {"outdoor_temp": -5.0}, round(t * 1e9)))
        lines.append(format_line("telemetry", [("station", "S3"), ("zone", "z2")],
                                 {"outdoor_temp": 9.0}, round(t * 1e9)))
    write(lines)
    query = querier(influx, database)
    actual = actual_outdoor(query, T0, T0 + 30 * H)
    assert actual[("z1", T0 + 5 * H)] == pytest.approx(-4.0)
    assert actual[("z2", T0 + 5 * H)] == pytest.approx(9.0)
    # Forecasts off by +1 K at lead ~1 h and by -3 K at lead ~3 h, issued every 6 h.
    for k in range(4):
        write(forecast_lines(issue("z1", T0 + k * 6 * H, [-3.0, -5.0, -7.0])))
    errors = error_by_lead(load_forecasts(query, T0, T0 + 30 * H), actual)
    assert [(e.lead_h, e.n) for e in errors] == [(1, 4), (2, 4), (3, 4)]
    assert [round(e.mae, 6) for e in errors] == [1.0, 1.0, 3.0]
    assert [round(e.bias, 6) for e in errors] == [1.0, -1.0, -3.0]
    assert [e.lead_h for e in error_by_lead(load_forecasts(query, T0, T0 + 30 * H), actual,
                                            leads=[3])] == [3]
