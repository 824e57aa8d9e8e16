"""Fill a real InfluxDB the way production does, for the dashboard query tests.

Telemetry, flats and station status: the simulator (``heatwatch simulate``, a subprocess)
publishes an accelerated 4-hour scenario to the real Mosquitto; the real collector (in this
process, so its metrics registry is at hand) stores it. Alert events: the alert engine's own
InfluxDB sink writes a few events. Self statistics: :class:`SelfStatsReporter` snapshots the
collector's registry and the alert engine's counters into ``heatwatch_internal``. Forecasts:
the forecast cycle's own code writes ``indoor_forecast``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from collector.config import (
    BatchSettings,
    CollectorSettings,
    DeadLetterSettings,
    MetricsSettings,
    SpoolSettings,
)
from heatwatch.local.processes import heatwatch_argv
from heatwatch.local.servers import InfluxServer, MosquittoServer
from heatwatch.registry import load_registry
from heatwatch.retention import RetentionSettings, backfill
from heatwatch.selfstats import SelfStatsReporter
from heatwatch.settings import InfluxSettings

# A topic prefix of our own: the collector's persistent session outlives this module on the
# shared broker, and must not collect other tests' messages.
PREFIX = "dash"
SCENARIO: dict[str, Any] = {
    "seed": 11,
    "mqtt": {"prefix": PREFIX},
    "time": {"mode": "accelerated", "duration": "4h"},
    "fleet": {"stations": 6, "zones": ["north", "south"], "flats_per_station": [6, 10]},
    "reporting": {"offline_on_exit": False},
    # The supply-against-setpoint panel: st-00003's controller reports its setpoint.
    "regimes": [{"stations": ["st-00003"], "reports_setpoint": True}],
    "faults": [
        # st-00002 loses power (no backup) near the end: its status is "offline" at the end.
        {"kind": "power_loss", "station": "st-00002", "start": "3h", "duration": "2h"},
        # st-00003's valve sticks: supply under the curve, flats cooling.
        {"kind": "under_supply", "station": "st-00003", "start": "1h", "duration": "3h",
         "size": 15},
        # st-00005 goes silent for 30 min without a last will: a seq gap when it returns.
        {"kind": "comm_loss", "station": "st-00005", "start": "1h", "duration": "30m"},
    ],
}
STATION = "st-00003"


@dataclass(frozen=True)
class Filled:
    database: str
    zone: str
    station: str
    registry: Path
    comfort: dict[str, tuple[int, float]]  # zone -> (flat-days under the standard, refund)


def _write(influx: InfluxServer, database: str, lines: list[str]) -> None:
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                      content="\n".join(lines).encode(), timeout=30)
    resp.raise_for_status()


def _collector_settings(tmp: Path, broker: MosquittoServer, influx: InfluxServer, db: str,
                        registry: Path) -> CollectorSettings:
    return CollectorSettings(
        mqtt=broker.settings("dash-collector", prefix=PREFIX),
        influx=influx.settings(db, timeout=10.0),
        batch=BatchSettings(flush_interval=0.2),
        spool=SpoolSettings(dir=tmp / "spool"),
        dead_letter=DeadLetterSettings(file=tmp / "rejected.jsonl", publish=False),
        metrics=MetricsSettings(port=0),
        registry=registry,
    )


def _wait_stored(influx: InfluxServer, db: str, collector: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        count = influx.count("telemetry", "supply_temp", db=db)
        if count > 0 and count == last and collector.stats()["queue_depth"] == 0:
            return
        last = count
        time.sleep(1.0)
    raise AssertionError("collector did not finish storing the simulated readings")


def _bad_messages(broker: MosquittoServer, influx: InfluxServer, db: str) -> None:
    """What a misbehaving gateway sends: a payload that is not JSON (rejected, invalid_json)
    and an extra field that changes type (the collector drops that field and stores the
    reading: a field type conflict, dead-lettered)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dash-bad-gateway")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        topic = f"{PREFIX}/st-00006/telemetry"
        client.publish(topic, b"{not json", qos=1).wait_for_publish(10)
        for value in (50.0, True):
            doc = {"ts": int(time.time() * 1000), "supply_temp": 60.0, "return_temp": 40.0,
                   "pump_running": True, "valve_pos": value}
            client.publish(topic, orjson.dumps(doc), qos=1).wait_for_publish(10)
            time.sleep(1.0)  # separate batches: the float is stored, then the bool dropped
    finally:
        client.disconnect()
        client.loop_stop()


def _alert_events(influx: InfluxServer, db: str, zone: str) -> None:
    from alerts.model import Alert, AlertEvent, AlertState, EventKind, Scope, Severity
    from alerts.notify.influx import AlertEventSink
    from alerts.rows import EventRecord

    now = time.time()

    def alert(rule: str, station: str | None, scope: Scope) -> Alert:
        subject = station or zone
        return Alert(id=f"{rule}-{subject}", rule=rule, subject=subject, scope=scope,
                     station=station, zone=zone, state=AlertState.FIRING,
                     severity=Severity.CRITICAL, active_at=now - 7200, value=0.031,
                     summary=f"{rule} on {subject}")

    surge = alert("makeup_surge", STATION, Scope.STATION)
    pump = alert("pump_stopped", STATION, Scope.STATION)
    cold = alert("zone_cold", None, Scope.ZONE)
    events = [
        AlertEvent(EventKind.FIRING, now - 7000, surge, 1),
        AlertEvent(EventKind.FIRING, now - 6000, pump, 1),
        AlertEvent(EventKind.RESOLVED, now - 5000, pump, 2),
        AlertEvent(EventKind.FIRING, now - 4000, cold, 1),
    ]
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=db))
    try:
        assert sink.write(EventRecord(e) for e in events) == len(events)
    finally:
        sink.close()


def _self_stats(influx: InfluxServer, db: str, collector_registry: CollectorRegistry) -> None:
    from alerts.metrics import AlertMetrics
    from alerts.notify.dispatcher import NOTIFICATIONS

    # The alert service's counters (its own registry, which also shows the delivery stages'
    # module-level ones), moved the way a running service moves them.
    alerts = AlertMetrics()
    NOTIFICATIONS.labels("crew-north", "sent").inc()
    alerts.readings.inc(1000)
    alerts.evaluate.observe(0.02)
    alerts.firing.labels("critical").set(2)
    now = time.time()
    for service, instance, registry in (("collector", "c1", collector_registry),
                                        ("alerts", "a1", alerts.registry)):
        # Two snapshots ten minutes apart: rates need two points in different intervals.
        for ago in (600.0, 0.0):
            reporter = SelfStatsReporter(
                registry, lambda lines: _write(influx, db, lines), service=service,
                instance=instance, clock=lambda ago=ago: now - ago,
            )
            assert reporter.report_once()


def _comfort_ledger(influx: InfluxServer, db: str, registry_path: Path
                    ) -> dict[str, tuple[int, float]]:
    """The comfort ledger of the stored flats (yesterday and today so far), computed and
    written by the code the alert engine closes days with; returns zone -> (flat-days under
    the standard, refund) for the panels' test. The simulator's registry has no flat areas:
    each flat gets one here, as a utility's registry would, so refunds are priced. The four
    hours of data may straddle local midnight: 1.2 h make a day (min_data_share 0.05), so one
    of the two days always counts; the standard is 20 °C so that the simulated flats
    (18-21 °C) have refund days."""
    from alerts.config import RulesConfig
    from alerts.history import HistorySource
    from alerts.notify.influx import AlertEventSink
    from heatwatch.registry import Registry
    from households.compute import period_rows, write_rows
    from households.config import ComfortConfig
    from households.ledger import LedgerParams, RefundBand

    plain = load_registry(registry_path)
    registry = Registry.of(st.model_copy(update={"meters": tuple(
        dataclasses.replace(m, area_m2=50.0 + 10 * (i % 5)) for i, m in enumerate(st.meters))})
        for st in plain)
    cfg = ComfortConfig(ledger=LedgerParams(standard_c=20.0, min_data_share=0.05),
                        bands=(RefundBand(name="half", below_c=20.0, share=0.5),
                               RefundBand(name="full", below_c=13.0, share=1.0)),
                        fee_per_m2_day=0.2)
    rules = RulesConfig()
    today = datetime.now(ZoneInfo(rules.defaults.heating.timezone)).date()
    source = HistorySource(InfluxSettings(url=influx.url, database=db))
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=db))
    try:
        rows = list(period_rows(source.query, registry, rules, cfg,
                                today - timedelta(days=1), today + timedelta(days=1)))
        assert write_rows(sink.write_lines, rows, cfg.ledger.standard_c) == len(rows) > 0
    finally:
        source.close()
        sink.close()
    out: dict[str, tuple[int, float]] = {}
    for r in rows:
        below, refund = out.get(r.zone, (0, 0.0))
        cold = r.comfort.band not in ("warm", "no_data")
        out[r.zone] = (below + cold, refund + (r.refund or 0.0))
    return out


def _forecasts(influx: InfluxServer, db: str, registry_path: Path) -> None:
    """Predictions as the alerts service's forecast cycle writes them (``indoor_forecast``,
    through :meth:`forecast.cycle.ForecastCycle.compute` and the engine's InfluxDB sink),
    issued 13 h and 4 h ago so that the panel's 3 h and 12 h leads both have points inside
    the last 5 h (a prediction is stamped with the time it predicts)."""
    import numpy as np

    from alerts.config import RulesConfig
    from alerts.notify.influx import AlertEventSink
    from forecast.cycle import ForecastCycle, Snapshot, StationSeen
    from forecast.settings import ModelSettings
    from forecast.thermal import Models
    from forecast.weather import ForecastBook, ForecastPoint, WeatherForecast

    reg = load_registry(registry_path)
    flats = [(st.id, m.id, st.zone) for st in reg for m in st.meters]
    n = len(flats)
    b = np.full(n, 1 / 30)
    c = np.full(n, 0.1)
    models = Models(station=[f[0] for f in flats], meter=[f[1] for f in flats],
                    zone=[f[2] for f in flats], a=(b * 31.0 - c) / 30.0, b=b, c=c,
                    err=np.full((n, 12), 0.3, dtype=np.float32), windows=np.full(n, 50),
                    step_s=3600.0, fitted_from=0.0, fitted_to=1.0)
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=db))
    try:
        for ago_h in (13, 4):
            now = time.time() - ago_h * 3600
            book = ForecastBook()
            for zone in {f[2] for f in flats}:
                book.put(WeatherForecast(zone, now, "sim", tuple(
                    ForecastPoint(now + 3600 * k, -10.0) for k in range(16))))
            cycle = ForecastCycle(ModelSettings(), RulesConfig(), book, sink.write_lines)
            seen = {st.id: StationSeen(st.zone, -10.0, 50.0, True) for st in reg}
            assert cycle.compute(Snapshot(now, models, np.full(n, 20.5), seen)) is not None
    finally:
        sink.close()


def fill(tmp: Path, broker: MosquittoServer, influx: InfluxServer, db: str) -> Filled:
    from collector.service import Collector

    # As `heatwatch run` sets it up: raw policy, hourly policy and continuous queries.
    influx.create_database(db, RetentionSettings())
    scenario = tmp / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    registry = tmp / "stations.yaml"
    subprocess.run(heatwatch_argv("simulate", "-c", str(scenario), "--write-registry",
                              str(registry), "--no-run"), check=True, timeout=60,
                   capture_output=True)
    zone = load_registry(registry).zone_of(STATION)

    collector = Collector(_collector_settings(tmp, broker, influx, db, registry))
    collector.start()
    try:
        assert collector.source.wait_connected(20)
        time.sleep(0.3)
        subprocess.run(
            heatwatch_argv("simulate", "-c", str(scenario), "--host", broker.host,
                       "--port", str(broker.port)),
            check=True, timeout=120, capture_output=True,
        )
        _wait_stored(influx, db, collector)
        _bad_messages(broker, influx, db)
        _wait_stored(influx, db, collector)
        _alert_events(influx, db, zone)
        _self_stats(influx, db, collector.metrics.registry)
        comfort = _comfort_ledger(influx, db, registry)
        _forecasts(influx, db, registry)
    finally:
        collector.stop(timeout=10)
    # The continuous queries run at each hour's end; the panels on hourly data need their
    # points now, so compute them as the CQs will (backfill runs the same statement).
    end = datetime.now(UTC)
    backfill(lambda q: influx.query(q, db=db), db, RetentionSettings(),
             end - timedelta(hours=6), end + timedelta(hours=1))
    return Filled(db, zone, STATION, registry, comfort)
