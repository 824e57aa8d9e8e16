"""alert_events written to the real InfluxDB 1.x from tests/conftest.py."""

from __future__ import annotations

import pytest
from alert_helpers import T0, Clock, EngineFactory, drive, healthy

from alerts.model import Alert, AlertEvent, AlertState, EventKind, Scope, Severity
from alerts.notify.influx import AlertEventSink, SinkError, event_line
from alerts.rows import EventRecord
from alerts.store import Store
from heatwatch.local.servers import InfluxServer, free_port
from heatwatch.settings import InfluxSettings

pytestmark = pytest.mark.servers


def sink_to(url: str, database: str, **more: object) -> AlertEventSink:
    return AlertEventSink(InfluxSettings.model_validate({"url": url, "database": database,
                                                         **more}))


def test_events_land_in_influx_once(make_engine: EngineFactory, clock: Clock, store: Store,
                                    influx: InfluxServer, database: str) -> None:
    engine = make_engine()
    drive(engine, clock, [
        (0, [healthy("s1", T0, power_ok=False)]),
        (30, [healthy("s1", T0 + 30)]),
    ])
    sink = sink_to(influx.url, database)
    assert sink.drain(store) == 2
    assert sink.drain(store) == 0  # cursor advanced: nothing written twice
    series = influx.query(
        'SELECT "title", "text", "alert_id", "event", "station", "rule" FROM "alert_events"',
        db=database,
    )
    cols = series[0]["columns"]
    values = series[0]["values"]
    assert isinstance(cols, list) and isinstance(values, list)
    rows = [dict(zip(cols, v, strict=True)) for v in values]
    assert [r["event"] for r in rows] == ["firing", "resolved"]
    assert rows[0]["time"] == round(T0 * 1e9)
    assert rows[0]["title"] == "power_loss firing" and rows[0]["station"] == "s1"
    assert "lost mains power" in str(rows[0]["text"])
    assert rows[0]["alert_id"] == rows[1]["alert_id"]
    sink.close()


def test_influx_down_keeps_the_cursor(make_engine: EngineFactory, clock: Clock,
                                      store: Store, influx: InfluxServer, database: str) -> None:
    engine = make_engine()
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    dead = sink_to(f"http://127.0.0.1:{free_port()}", database, timeout=1)
    with pytest.raises(SinkError):
        dead.drain(store)
    live = sink_to(influx.url, database)
    assert live.drain(store) == 1
    assert influx.count("alert_events", "seq", db=database) == 1


def test_line_protocol_escaping() -> None:
    alert = Alert(id="a1", rule="zone_cold", subject="north zone", scope=Scope.ZONE,
                  station=None, zone="north zone", state=AlertState.FIRING,
                  severity=Severity.WARNING, active_at=T0, summary='say "hi", ok\nthere',
                  value=0.25)
    line = event_line(EventRecord(AlertEvent(EventKind.FIRING, T0, alert, 1), muted=True))
    assert line.startswith("alert_events,event=firing,rule=zone_cold,severity=warning,"
                           "zone=north\\ zone ")
    assert 'text="say \\"hi\\", ok there"' in line
    assert "muted=true" in line and "value=0.25" in line and "seq=1i" in line
    assert line.endswith(f" {round(T0 * 1e9)}")


def test_refused_batch_is_skipped_not_blocking(make_engine: EngineFactory, clock: Clock,
                                               store: Store, influx: InfluxServer) -> None:
    engine = make_engine()
    drive(engine, clock, [(0, [healthy("s1", T0, power_ok=False)])])
    sink = sink_to(influx.url, "no_such_database")
    assert sink.drain(store) == 0  # 404 database not found: counted as dropped
    assert store.cursor("influx_alert_events") == store.events()[-1][0]
