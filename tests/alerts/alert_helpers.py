"""Helpers for the alert tests: scripted readings on an injectable clock.

T0 is a winter noon (inside the default heating season) so rules that respect the schedule
are active unless a test moves the clock into summer.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.model import Alert, AlertEvent, EventKind, Scope
from alerts.rows import MaintenanceWindow
from alerts.store import Store
from heatwatch.registry import Registry, Station
from heatwatch.wire import FieldValue, Kind, Reading

T0 = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC).timestamp()
SUMMER = dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC).timestamp()

HEALTHY: dict[str, FieldValue] = {
    "primary_supply_temp": 90.0,
    "primary_return_temp": 50.0,
    "supply_temp": 55.0,
    "return_temp": 40.0,
    "flow": 10.0,
    "supply_pressure": 2.5,
    "return_pressure": 2.0,
    "tank_level": 1.5,
    "makeup_flow": 0.0,
    "outdoor_temp": -10.0,
    "power_ok": True,
    "pump_running": True,
}


def telemetry(station: str, t: float, **fields: FieldValue) -> Reading:
    return Reading(Kind.TELEMETRY, station, round(t * 1e9), dict(fields))


def healthy(station: str, t: float, **changes: FieldValue) -> Reading:
    return telemetry(station, t, **{**HEALTHY, **changes})


def indoor(station: str, flat: str, t: float, temp: float) -> Reading:
    return Reading(Kind.METER, station, round(t * 1e9), {"indoor_temp": temp}, meter=flat)


def status(station: str, t: float, value: str) -> Reading:
    fields: dict[str, FieldValue] = {"state": value, "online": value == "online"}
    return Reading(Kind.STATUS, station, round(t * 1e9), fields)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def kinds(events: list[AlertEvent], rule: str | None = None) -> list[tuple[str, str]]:
    """(rule, event) pairs, optionally for one rule: what a test usually asserts on."""
    return [(e.alert.rule, e.kind.value) for e in events if rule is None or e.alert.rule == rule]


def only(events: list[AlertEvent], rule: str) -> list[EventKind]:
    return [e.kind for e in events if e.alert.rule == rule]


def registry(*stations: str, zone: str = "north", interval: float = 10.0) -> Registry:
    return Registry.of(
        Station.model_validate({"id": s, "zone": zone, "report_interval_s": interval})
        for s in stations
    )


def quiet_rules(**overrides: object) -> RulesConfig:
    """Rules with no start-up grace and pipeline_down off unless a test wants them."""
    data: dict[str, object] = {"pipeline": {"startup_grace_s": 0, "enabled": False}}
    data.update(overrides)
    return RulesConfig.model_validate(data)


EngineFactory = Callable[..., Engine]


def drive(
    engine: Engine, clock: Clock, script: Sequence[tuple[float, Sequence[Reading]]]
) -> list[tuple[float, str, str]]:
    """Feed readings at offsets from T0, evaluate after each step; (offset, rule, event)."""
    out: list[tuple[float, str, str]] = []
    for offset, readings in script:
        clock.now = T0 + offset
        for r in readings:
            engine.observe(r)
        out += [(offset, e.alert.rule, e.kind.value) for e in engine.evaluate(clock.now)]
    return out


def api_ack(store: Store, alert_id: str, by: str, now: float, comment: str = "",
            assignee: str | None = None) -> Alert:
    """Acknowledge as the API does: :meth:`Store.set_ack` on a connection of its own, which
    the engine adopts at its next evaluation (it watches the store's ``data_version``)."""
    api = Store(store.path)
    try:
        return api.set_ack(alert_id, by=by, comment=comment, assignee=assignee, now=now)
    finally:
        api.close()


def api_window(store: Store, scope: Scope, target: str, starts_at: float, ends_at: float,
               reason: str = "", by: str = "") -> MaintenanceWindow:
    """Add a maintenance window as the API does (own connection; the engine adopts it)."""
    api = Store(store.path)
    try:
        return api.add_window(scope, target, starts_at, ends_at, reason, by)
    finally:
        api.close()


def every(
    start: float, stop: float, step: float, make: Callable[[float], list[Reading]]
) -> list[tuple[float, list[Reading]]]:
    """A scripted series: ``make(t)`` readings at each offset in [start, stop)."""
    out = []
    t = start
    while t < stop:
        out.append((t, make(T0 + t)))
        t += step
    return out


class Receiver:
    """A loopback HTTP server that answers with scripted status codes (200 once exhausted)."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"nope" if code >= 400 else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
