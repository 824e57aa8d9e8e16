"""Warm-up from the real InfluxDB: a restart mid-leak judges at once, stale stations go offline,
and an InfluxDB that is down only costs the warm-up."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from alert_helpers import T0, Clock, healthy, indoor, kinds, quiet_rules, registry, status

from alerts.engine import Engine
from alerts.history import HistorySource
from alerts.service import AlertsService
from alerts.settings import load_alerts_settings
from alerts.store import Store
from alerts.warmup import rate_window_s, warm_up
from heatwatch.lineproto import to_line
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings
from heatwatch.wire import Reading

pytestmark = pytest.mark.servers

NOW = T0 + 3600.0  # the restart
REG = registry("leaky", "fine", "stale", zone="north")


def write(influx: InfluxServer, database: str, readings: list[Reading]) -> None:
    body = "\n".join(to_line(r, REG.zone_of(r.station)) for r in readings)
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content=body.encode(), timeout=30)
    assert resp.status_code == 204, resp.text


def history() -> list[Reading]:
    """The hour before the restart: ``leaky`` loses 0.15 bar/min over its last 10 minutes
    (still above the 1.0 bar floor, so only the rate tells), ``fine`` is steady, ``stale``
    stopped reporting 30 minutes before the restart; four flats of ``north``, three cold."""
    out: list[Reading] = []
    for k in range(360):
        t = T0 + k * 10
        drop = max(0.0, (t - (NOW - 600)) / 60 * 0.15)
        out.append(healthy("leaky", t, return_pressure=3.2 - drop))
        out.append(healthy("fine", t))
        if t < NOW - 1800:
            out.append(healthy("stale", t))
    for flat, temp in (("f1", 15.0), ("f2", 16.0), ("f3", 14.5), ("f4", 21.0)):
        out.append(indoor("fine", flat, NOW - 120, temp))
    out.append(status("fine", T0, "online"))
    return out


def engine_at(rules_overrides: dict[str, object], store: Store, clock: Clock) -> Engine:
    return Engine(quiet_rules(**rules_overrides), store, clock, registry=REG, receivers=())


def source(influx: InfluxServer, database: str) -> HistorySource:
    return HistorySource(InfluxSettings(url=influx.url, database=database))


def test_restart_mid_leak_fires_at_once_where_cold_waits(influx: InfluxServer,
                                                         database: str) -> None:
    write(influx, database, history())
    overrides: dict[str, object] = {"defaults": {"pressure_drop": {"for_s": 0}}}
    clock = Clock(NOW)

    cold = engine_at(overrides, Store(":memory:"), clock)
    assert kinds(cold.evaluate(NOW), "pressure_drop") == []  # one sample: no rate yet

    warm = engine_at(overrides, Store(":memory:"), clock)
    src = source(influx, database)
    report = warm_up(warm, src, NOW)
    src.close()
    assert report.error is None
    assert (report.stations, report.flats, report.statuses) == (2, 4, 1)  # stale: too old
    assert report.telemetry == 2 * int(rate_window_s(warm.rules)) // 10  # 900 s, 10 s apart
    events = warm.evaluate(NOW)
    assert kinds(events) == [("pressure_drop", "firing"), ("zone_cold", "pending")]
    leak = events[0].alert
    assert leak.station == "leaky" and "falling 0.15 bar/min" in leak.summary
    assert leak.fired_at == NOW  # judged at the restart, not back-dated into history
    assert warm.fleet.zones["north"].flats == 4


def test_warm_history_is_not_a_fresh_arrival(influx: InfluxServer, database: str) -> None:
    """With the real start-up grace: stations that report again stay fine; one whose last
    stored reading is 30 minutes old is offline at the first evaluation (the warm-up knows
    its silence, so the grace is not for it), and stays one alert."""
    write(influx, database, history())
    clock = Clock(NOW)
    engine = Engine(quiet_rules(pipeline={"startup_grace_s": 300, "enabled": False}),
                    Store(":memory:"), clock, registry=REG, receivers=())
    src = source(influx, database)
    warm_up(engine, src, NOW, lookback_s=3600)
    src.close()
    assert engine.fleet.windows["stale"].seen_at == NOW - 1810  # its own time, not "now"
    offline = []
    for k in range(0, 31):
        clock.now = NOW + k * 10
        engine.observe(healthy("leaky", clock.now, return_pressure=3.0), clock.now)
        engine.observe(healthy("fine", clock.now), clock.now)
        offline += [(e.alert.station, e.ts - NOW) for e in engine.evaluate(clock.now)
                    if e.alert.rule == "station_offline"]
    assert offline == [("stale", 0.0)]  # at once, only stale, only once


def test_influx_down_logs_and_starts_cold(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(NOW)
    engine = engine_at({}, Store(":memory:"), clock)
    dead = HistorySource(InfluxSettings(url=f"http://127.0.0.1:{free_port()}"), timeout=1)
    with caplog.at_level(logging.WARNING, logger="alerts.warmup"):
        report = warm_up(engine, dead, NOW)
    dead.close()
    assert report.error is not None and "unreachable" in report.error
    assert "continuing" in caplog.text
    engine.observe(healthy("fine", NOW, power_ok=False))
    assert kinds(engine.evaluate(NOW)) == [("power_loss", "firing")]  # the engine works


def test_service_warms_up_from_its_influx_block(tmp_path: Path, influx: InfluxServer,
                                                database: str) -> None:
    write(influx, database, history())
    settings = load_alerts_settings(
        None, influx={"url": influx.url, "database": database}, state_db=tmp_path / "a.db",
        warmup={"lookback_s": 120},
    )
    service = AlertsService(settings, clock=lambda: NOW)
    report = service.warm_up()
    service.store.close()
    assert report is not None and report.error is None
    assert report.telemetry == 2 * 12  # 120 s of both live stations
    off = AlertsService(load_alerts_settings(None, warmup={"enabled": False},
                                             state_db=tmp_path / "b.db"))
    assert off.warm_up() is None
    off.store.close()


def test_stuck_sensor_fires_at_once_after_a_restart(influx: InfluxServer, database: str) -> None:
    """``frozen``'s supply probe has read exactly 55.0 for 2.5 h, everything else moves;
    ``moving`` moves throughout. The live engine would have fired long ago; a cold restart
    would wait two more hours; the warmed engine fires at its first evaluation."""
    readings: list[Reading] = []
    for k in range(900):  # 2.5 h at 10 s
        t = NOW - 9000 + 10 * k
        wiggle = {"supply_temp": 55.0 + 0.1 * (k % 2), "return_temp": 40.0 + 0.1 * (k % 3),
                  "primary_supply_temp": 90.0 + 0.1 * (k % 2),
                  "primary_return_temp": 50.0 + 0.1 * (k % 3),
                  "supply_pressure": 2.5 + 0.01 * (k % 2), "return_pressure": 2.0 + 0.01 * (k % 3)}
        readings.append(healthy("moving", t, **wiggle))
        readings.append(healthy("frozen", t, **{**wiggle, "supply_temp": 55.0}))
    write(influx, database, readings)
    clock = Clock(NOW)
    results = {}
    for name, stuck in (("seeded", True), ("raw only", False)):
        engine = engine_at({}, Store(":memory:"), clock)
        src = source(influx, database)
        report = warm_up(engine, src, NOW, stuck=stuck)
        src.close()
        results[name] = (report.stuck_seeded, kinds(engine.evaluate(NOW)))
        if stuck:
            state = engine.fleet.windows["frozen"].fields["supply_temp"]
            # the end of the oldest constant bucket read: never earlier than the truth (-9000),
            # and the read span (stuck_after_s + 2 buckets) is long enough to call it stuck
            assert NOW - 9000 < state.changed_at <= NOW - 7200
    assert results["seeded"] == (1, [("stuck_sensor", "firing")])
    assert results["raw only"] == (0, [])


def test_history_credentials_for_1x_and_2x() -> None:
    """Transport-level check of the auth parameters (a mock transport, not a server): 2.x
    answers InfluxQL through its DBRP mapping with a token, 1.x with basic auth."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": [{"statement_id": 0}]})

    for settings in (
        InfluxSettings.model_validate({"url": "http://influx", "database": "heat",
                                       "token": "tkn"}),
        InfluxSettings.model_validate({"transport": "v2", "url": "http://influx", "org": "o",
                                       "bucket": "b", "token": "t2"}),
        InfluxSettings.model_validate({"url": "http://influx", "database": "heat",
                                       "username": "u", "password": "pw"}),
    ):
        src = HistorySource(settings, transport=httpx.MockTransport(handler))
        assert src.query("SELECT 1") == []
        src.close()
    forms = [dict(httpx.QueryParams(r.content.decode())) for r in seen]
    assert seen[0].headers["Authorization"] == "Token tkn" and forms[0]["db"] == "heat"
    assert seen[1].headers["Authorization"] == "Token t2" and forms[1]["db"] == "b"
    assert seen[2].headers["Authorization"].startswith("Basic ")
