"""Helpers for the API tests: keys per role, a small registry, line protocol, stored alerts."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import httpx
from fastapi import FastAPI

from alerts.lifecycle import emit, new_alert_id
from alerts.model import Alert, AlertState, EventKind, Scope, Severity, Signal
from alerts.rows import Batch, EventRecord
from alerts.store import Store
from api.config import ApiKey
from api.keys import hash_key
from heatwatch.local.servers import InfluxServer
from heatwatch.registry import Meter, Registry, Station

AppFactory = Callable[..., FastAPI]

KEYS = {
    "viewer": "hw_test-viewer-0123456789abcdef0123456789abcdef",
    "hotline": "hw_test-hotline-0123456789abcdef0123456789abcdef",
    "crew": "hw_test-crew-0123456789abcdef0123456789abcdef",
    "admin": "hw_test-admin-0123456789abcdef0123456789abcdef",
}
ROLES = ("viewer", "hotline", "crew", "admin")


def key_entries() -> list[ApiKey]:
    return [ApiKey(name=f"{role}-key", role=role, sha256=hash_key(k)) for role, k in KEYS.items()]


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def registry() -> Registry:
    """north: s1 (5 flats), s2 (1 flat); south: s3, s4, s5 (s5 never reports)."""
    return Registry.of([
        Station(id="s1", name="Main St 1", zone="north", meters=(
            Meter(id="f1", floor=1), Meter(id="f2", floor=5, top_floor=True),
            Meter(id="f3", floor=5, top_floor=True, gable_end=True), Meter(id="f4"),
            Meter(id="f5"),
        )),
        Station(id="s2", name="Main St 2", zone="north", meters=(Meter(id="g1", floor=2),)),
        Station(id="s3", name="Harbour 1", zone="south"),
        Station(id="s4", name="Harbour 2", zone="south"),
        Station(id="s5", name="Harbour 3", zone="south"),
    ])


def write_lines(influx: InfluxServer, db: str, lines: list[str]) -> None:
    resp = httpx.post(f"{influx.url}/write", params={"db": db, "precision": "s"},
                      content="\n".join(lines), timeout=30)
    assert resp.status_code == 204, resp.text


@dataclasses.dataclass(frozen=True)
class FilledFleet:
    """What :func:`fill_fleet` wrote, for the assertions."""

    minute0: int  # start of s1's minute series (epoch s); it has 1440 points, one per minute
    end: int  # minute0 + 24 h


def fill_fleet(influx: InfluxServer, db: str, now: float | None = None) -> FilledFleet:
    now = time.time() if now is None else now
    end = (int(now) // 60) * 60 - 120
    minute0 = end - 86400
    fresh = int(now) - 5
    tel = "supply_temp={s}.0,return_temp=40.0,pump_running=true,power_ok=true"
    lines = [
        f"telemetry,station=s1,zone=north {tel.format(s=60 + i % 10)} {minute0 + 60 * i}"
        for i in range(1440)
    ]
    lines += [
        f"telemetry,station=s1,zone=north {tel.format(s=70)} {fresh}",
        f"telemetry,station=s2,zone=north {tel.format(s=50)} {int(now) - 3600}",
        f"telemetry,station=s3,zone=south {tel.format(s=55)} {fresh}",
        f"telemetry,station=s4,zone=south {tel.format(s=56)} {fresh - 10}",
        f'station_status,station=s4,zone=south state="offline",online=false {fresh}',
        f"telemetry,station=ghost,zone=unassigned {tel.format(s=57)} {fresh}",
    ]
    temps = {("s1", "f1"): 21.0, ("s1", "f2"): 17.5, ("s1", "f3"): 16.0, ("s1", "f4"): 22.0,
             ("s1", "f5"): 19.9, ("s2", "g1"): 15.0}
    for (station, flat), temp in temps.items():
        lines.append(f"meter,meter={flat},station={station},zone=north indoor_temp=30.0 "
                     f"{fresh - 600}")
        lines.append(f"meter,meter={flat},station={station},zone=north indoor_temp={temp} "
                     f"{fresh}")
    write_lines(influx, db, lines)
    return FilledFleet(minute0=minute0, end=end)


def stored_alert(
    store: Store,
    rule: str,
    station: str | None,
    zone: str | None,
    *,
    state: AlertState = AlertState.FIRING,
    active_at: float | None = None,
    resolved_at: float | None = None,
    severity: Severity = Severity.CRITICAL,
) -> Alert:
    """An alert written through the store's API, with the events the engine would log."""
    t = time.time() - 600 if active_at is None else active_at
    subject = station or zone or "pipeline"
    scope = Scope.STATION if station else Scope.ZONE
    alert = Alert(
        id=new_alert_id(rule, subject, t), rule=rule, subject=subject, scope=scope,
        station=station, zone=zone, state=AlertState.PENDING, severity=severity, active_at=t,
        summary=f"{rule} on {subject}",
    )
    events = [EventRecord(emit(alert, EventKind.PENDING, t))]
    if state is not AlertState.PENDING:
        alert.state, alert.fired_at = AlertState.FIRING, t + 60
        events.append(EventRecord(emit(alert, EventKind.FIRING, t + 60)))
    if state is AlertState.RESOLVED:
        alert.state, alert.resolved_at = AlertState.RESOLVED, resolved_at or t + 120
        events.append(EventRecord(emit(alert, EventKind.RESOLVED, alert.resolved_at)))
    signal = Signal.CLEAR if state is AlertState.RESOLVED else Signal.FIRE
    store.commit(Batch(alerts={alert.id: (alert, signal)}, events=events))
    return alert
