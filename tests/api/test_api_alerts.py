"""Alerts (filters, ack flow through the real store and engine), windows, rules."""

from __future__ import annotations

import time

import httpx
import pytest
from api_helpers import auth, registry, stored_alert, write_lines
from fastapi import FastAPI

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.model import Alert, AlertState, EventKind
from alerts.store import Store
from heatwatch.local.servers import InfluxServer
from heatwatch.wire import Kind, Reading

pytestmark = pytest.mark.anyio
V, C, A = auth("viewer"), auth("crew"), auth("admin")


def iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def ids(body: dict[str, list[dict[str, str]]]) -> list[str]:
    return [a["id"] for a in body["items"]]


@pytest.fixture
def four(store: Store) -> dict[str, Alert]:
    now = time.time()
    return {
        "firing_s3": stored_alert(store, "pump_stopped", "s3", "south", active_at=now - 3600),
        "resolved_s1": stored_alert(store, "power_loss", "s1", "north",
                                    state=AlertState.RESOLVED, active_at=now - 7200),
        "pending_zone": stored_alert(store, "zone_cold", None, "north",
                                     state=AlertState.PENDING, active_at=now - 600),
        "leak_s1": stored_alert(store, "makeup_surge", "s1", "north", active_at=now - 300),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["leak_s1", "pending_zone", "firing_s3", "resolved_s1"]),
    ("state=firing", ["leak_s1", "firing_s3"]),
    ("state=pending&state=resolved", ["pending_zone", "resolved_s1"]),
    ("kind=leak", ["leak_s1"]),
    ("kind=pump_stopped&kind=under_temperature", ["pending_zone", "firing_s3"]),
    ("zone=north", ["leak_s1", "pending_zone", "resolved_s1"]),
    ("station=s1", ["leak_s1", "resolved_s1"]),
    ("station=s1&state=firing", ["leak_s1"]),
    ("since=SINCE", ["leak_s1", "pending_zone", "firing_s3"]),
    ("until=SINCE", ["firing_s3", "resolved_s1"]),
    ("acked=false", ["leak_s1", "pending_zone", "firing_s3", "resolved_s1"]),
    ("acked=true", []),
    ("zone=east", []),
])
async def test_alert_filters(
    client: httpx.AsyncClient, four: dict[str, Alert], query: str, expected: list[str]
) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1000))
    resp = await client.get(f"/api/v1/alerts?{query.replace('SINCE', since)}", headers=V)
    assert resp.status_code == 200, resp.text
    assert ids(resp.json()) == [four[name].id for name in expected]


async def test_alert_paging_and_bad_filters(
    client: httpx.AsyncClient, four: dict[str, Alert]
) -> None:
    page = (await client.get("/api/v1/alerts?limit=1&offset=1", headers=V)).json()
    assert page["total"] == 4 and ids(page) == [four["pending_zone"].id]
    for query, reason in [
        ("kind=bogus", "unknown kind 'bogus'"),
        ("state=sleeping", "Input should be"),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until must be after since"),
        ("since=2026-01-02T00:00:00", "time zone offset"),
        ("limit=0", "greater than or equal to 1"),
        ("station=a;b", "String should match pattern"),
    ]:
        resp = await client.get(f"/api/v1/alerts?{query}", headers=V)
        assert resp.status_code == 422, query
        assert reason in str(resp.json()["detail"]), (query, resp.text)


async def test_ack_flow_with_the_engine(client: httpx.AsyncClient, store: Store) -> None:
    """An alert raised by the real engine, acked over HTTP, is acked in the store."""
    rules = RulesConfig.model_validate({"pipeline": {"startup_grace_s": 0, "enabled": False}})
    now = time.time()
    engine = Engine(rules, store, lambda: now, registry=registry())
    engine.observe(Reading(Kind.TELEMETRY, "s1", int(now * 1e9), {"power_ok": False}))
    fired = [e for e in engine.evaluate(now) if e.alert.rule == "power_loss"]
    assert [e.kind for e in fired] == [EventKind.FIRING]
    alert_id = fired[0].alert.id

    resp = await client.post(f"/api/v1/alerts/{alert_id}/ack", headers=C,
                             json={"comment": "crew on the way", "assignee": "team-north"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["acked_by"] == "crew-key" and resp.json()["assignee"] == "team-north"
    stored = store.alert(alert_id)
    assert stored is not None
    assert (stored.acked_by, stored.ack_comment) == ("crew-key", "crew on the way")
    assert stored.acked_at is not None and stored.state is AlertState.FIRING
    logged = [r.event.kind for _, r in store.events() if r.event.alert.id == alert_id]
    assert logged == [EventKind.FIRING, EventKind.ACKNOWLEDGED]
    # The running engine adopts the ack, and its next commit keeps it.
    engine.observe(Reading(Kind.TELEMETRY, "s1", int((now + 10) * 1e9), {"power_ok": False}))
    engine.evaluate(now + 10)
    live = {a.id: a for a in engine.open_alerts()}[alert_id]
    assert (live.acked_by, live.assignee) == ("crew-key", "team-north")
    stored = store.alert(alert_id)
    assert stored is not None and stored.assignee == "team-north"

    listed = (await client.get("/api/v1/alerts?acked=true", headers=V)).json()
    assert ids(listed) == [alert_id]
    history = (await client.get(f"/api/v1/alerts/{alert_id}/history", headers=V)).json()
    assert [e["kind"] for e in history["events"]] == ["firing", "acknowledged"]
    assert history["events"][1]["ack_comment"] == "crew on the way"
    assert history["events"][1]["assignee"] == "team-north"

    unacked = await client.delete(f"/api/v1/alerts/{alert_id}/ack", headers=C)
    assert unacked.status_code == 200 and unacked.json()["acked_at"] is None
    stored = store.alert(alert_id)
    assert stored is not None and stored.acked_by is None and stored.acked_at is None
    engine.evaluate(now + 20)
    assert {a.id: a for a in engine.open_alerts()}[alert_id].acked_by is None
    history = (await client.get(f"/api/v1/alerts/{alert_id}/history", headers=V)).json()
    assert [e["kind"] for e in history["events"]] == ["firing", "acknowledged", "unacknowledged"]
    again = await client.delete(f"/api/v1/alerts/{alert_id}/ack", headers=C)
    assert again.status_code == 409 and "not acknowledged" in again.json()["detail"]


async def test_ack_errors(client: httpx.AsyncClient, four: dict[str, Alert]) -> None:
    resolved = four["resolved_s1"].id
    resp = await client.post(f"/api/v1/alerts/{resolved}/ack", headers=C, json={"comment": "x"})
    assert resp.status_code == 409 and "resolved" in resp.json()["detail"]
    resp = await client.post("/api/v1/alerts/nosuch/ack", headers=C, json={"comment": "x"})
    assert resp.status_code == 404
    open_id = four["leak_s1"].id
    for body in ({}, {"comment": ""}, {"comment": "x", "extra": 1}, {"comment": "x" * 2001}):
        resp = await client.post(f"/api/v1/alerts/{open_id}/ack", headers=C, json=body)
        assert resp.status_code == 422, body
    resp = await client.post(f"/api/v1/alerts/{open_id}/ack", headers=C, content=b"{not json")
    assert resp.status_code == 422


async def test_alert_detail_and_history_404(
    client: httpx.AsyncClient, four: dict[str, Alert]
) -> None:
    a = four["firing_s3"]
    detail = (await client.get(f"/api/v1/alerts/{a.id}", headers=V)).json()
    assert detail["rule"] == "pump_stopped" and detail["family"] == "outage"
    assert detail["state"] == "firing" and detail["station"] == "s3"
    history = (await client.get(f"/api/v1/alerts/{a.id}/history", headers=V)).json()
    assert [e["kind"] for e in history["events"]] == ["pending", "firing"]
    assert (await client.get("/api/v1/alerts/nosuch/history", headers=V)).status_code == 404


async def test_windows_create_list_end(client: httpx.AsyncClient, store: Store) -> None:
    created = await client.post("/api/v1/windows", headers=A, json={
        "scope": "station", "target": "s1", "duration_s": 3600, "reason": "pump swap"})
    assert created.status_code == 201, created.text
    w = created.json()
    assert w["active"] is True and w["created_by"] == "admin-key"
    assert [(x.id, x.target, x.reason) for x in store.windows()] == [(w["id"], "s1", "pump swap")]

    later = await client.post("/api/v1/windows", headers=A, json={
        "scope": "zone", "target": "north", "starts_at": "2099-01-01T00:00:00Z",
        "ends_at": "2099-01-02T00:00:00Z"})
    assert later.status_code == 201 and later.json()["active"] is False
    listed = (await client.get("/api/v1/windows", headers=V)).json()
    assert [x["target"] for x in listed] == ["s1", "north"]

    ended = (await client.post(f"/api/v1/windows/{w['id']}/end", headers=A)).json()
    assert ended["window"]["id"] == w["id"]  # the same window, ended: its record is kept
    assert ended["window"]["target"] == "s1" and ended["window"]["active"] is False
    assert ended["window"]["starts_at"] == w["starts_at"]
    assert ended["window"]["ends_at"] == ended["ended_at"]
    current = (await client.get("/api/v1/windows", headers=V)).json()
    assert [x["target"] for x in current] == ["north"]
    everything = (await client.get("/api/v1/windows?include_ended=true", headers=V)).json()
    assert sorted(x["target"] for x in everything) == ["north", "s1"]

    dropped = (await client.post(f"/api/v1/windows/{later.json()['id']}/end", headers=A)).json()
    assert dropped["window"] is None and "deleted" in dropped["note"]
    kept_id = ended["window"]["id"]
    resp = await client.post(f"/api/v1/windows/{kept_id}/end", headers=A)
    assert resp.status_code == 409
    assert (await client.post("/api/v1/windows/4242/end", headers=A)).status_code == 404


@pytest.mark.parametrize(("body", "reason"), [
    ({"scope": "station", "target": "nosuch", "duration_s": 60}, "no station 'nosuch'"),
    ({"scope": "zone", "target": "s1", "duration_s": 60}, "no zone 's1'"),
    ({"scope": "global", "target": "s1", "duration_s": 60}, "Input should be"),
    ({"scope": "station", "target": "s1"}, "exactly one of ends_at and duration_s"),
    ({"scope": "station", "target": "s1", "duration_s": 60, "ends_at": "2099-01-01T00:00:00Z"},
     "exactly one of ends_at and duration_s"),
    ({"scope": "station", "target": "s1", "starts_at": "2000-06-01T00:00:00Z",
      "ends_at": "2001-01-01T00:00:00Z"}, "already be over"),
    ({"scope": "station", "target": "s1", "starts_at": "2099-01-02T00:00:00Z",
      "ends_at": "2099-01-01T00:00:00Z"}, "end after it starts"),
    ({"scope": "station", "target": "s1", "duration_s": -5}, "greater than 0"),
    ({"scope": "station", "target": "s1", "ends_at": "2099-01-01T00:00:00"}, "timezone"),
])
async def test_window_422s(
    client: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    resp = await client.post("/api/v1/windows", headers=A, json=body)
    assert resp.status_code == 422, resp.text
    assert reason in str(resp.json()["detail"])


async def test_rules_list(client: httpx.AsyncClient) -> None:
    rules = {r["name"]: r for r in (await client.get("/api/v1/rules", headers=V)).json()}
    assert {"station_offline", "zone_cold", "pipeline_down", "makeup_surge"} <= set(rules)
    assert rules["zone_cold"]["family"] == "under_temperature"
    assert rules["zone_cold"]["params"]["standard_c"] == 18.0


async def test_backtest_replays_stored_history(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    """s1 lost mains power for 20 minutes of a stored hour: the backtest finds exactly that."""
    t0 = (int(time.time()) // 3600 - 3) * 3600
    lines = []
    for k in range(360):
        power = "false" if 1200 <= 10 * k < 2400 else "true"
        for station in ("s1", "s2"):
            ok = power if station == "s1" else "true"
            lines.append(f"telemetry,station={station},zone=north supply_temp=55.0,"
                         f"return_temp=40.0,pump_running=true,power_ok={ok} {t0 + 10 * k}")
    write_lines(influx, database, lines)
    body = {"rule": "power_loss", "zone": "north", "start": iso(t0), "end": iso(t0 + 3600)}
    resp = await client.post("/api/v1/rules/backtest", headers=A, json=body)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["readings"] == 720
    assert [(a["rule"], a["station"], a["family"]) for a in result["alerts"]] == [
        ("power_loss", "s1", "outage")]
    alert = result["alerts"][0]
    assert alert["fired_at"] == iso(t0 + 1200) and alert["resolved_at"] == iso(t0 + 2400)
    assert alert["duration_s"] == 1200


@pytest.mark.parametrize(("body", "reason"), [
    ({"rule": "nope"}, "unknown rule"),
    ({"end": "2026-01-01T00:00:00Z"}, "end must be after start"),
    ({"end": "2026-01-03T00:00:00Z"}, "at most 86400 s for a zone or the fleet"),
    ({"station": "s1", "end": "2026-01-09T00:00:00Z"}, "at most 604800 s for one station"),
    ({"step_s": 0.1}, "greater than or equal to 1"),
    ({"start": "1999-01-01T00:00:00Z"}, "between 2000-01-01"),
])
async def test_backtest_422s(
    client: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    full = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T06:00:00Z", **body}
    resp = await client.post("/api/v1/rules/backtest", headers=A, json=full)
    assert resp.status_code == 422, resp.text
    assert reason in str(resp.json()["detail"])


async def test_one_backtest_at_a_time(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
    with app.state.services.backtest_lock:  # as if one were running
        resp = await client.post("/api/v1/rules/backtest", headers=A, json=body)
    assert resp.status_code == 429 and "already running" in resp.json()["detail"]


async def test_engine_adopts_windows_written_by_the_api(
    client: httpx.AsyncClient, store: Store
) -> None:
    rules = RulesConfig.model_validate({"pipeline": {"startup_grace_s": 0, "enabled": False}})
    now = time.time()
    engine = Engine(rules, store, lambda: now, registry=registry())
    engine.evaluate(now)
    created = await client.post("/api/v1/windows", headers=A, json={
        "scope": "zone", "target": "south", "duration_s": 3600, "reason": "valve work"})
    window_id = created.json()["id"]
    engine.evaluate(now + 1)
    assert [w.id for w in engine.router.windows] == [window_id]
    await client.post(f"/api/v1/windows/{window_id}/end", headers=A)
    engine.evaluate(now + 2)
    assert engine.router.windows == []  # ended (a second ago, on the API's clock)
