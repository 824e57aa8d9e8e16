"""The household view over HTTP: complaints with the data's verdict, their lifecycle and KPIs,
the stored comfort ledger and a station's flats today, on the real InfluxDB and alert store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from api_helpers import AppFactory, auth, registry, stored_alert, write_lines

from alerts.config import RulesConfig
from alerts.history import HistorySource
from alerts.notify.influx import AlertEventSink
from alerts.store import Store
from api.config import ApiSettings
from heatwatch.local.servers import InfluxServer
from heatwatch.settings import InfluxSettings
from households.compute import day_rows, write_rows
from households.config import ComfortConfig

pytestmark = pytest.mark.anyio
H = 3600


def fill_flats(influx: InfluxServer, db: str, now: float) -> None:
    """s1/f1 warm, then 16.2 °C for the last 9 h; f2 21 °C; s1 delivering to its curve."""
    lines = []
    t = int(now) - 50 * H  # yesterday (local) in full, whatever the time of day
    while t < now:
        f1 = 16.2 if t >= now - 9 * H else 21.0
        lines.append(f"meter,meter=f1,station=s1,zone=north indoor_temp={f1} {t}")
        lines.append(f"meter,meter=f2,station=s1,zone=north indoor_temp=21.0 {t}")
        t += 300
    # outdoor 0 °C: the default curve says 39.2 °C; 52 °C is normal, 30 °C is short (5 K)
    lines.append(f"telemetry,station=s1,zone=north supply_temp=52.0,outdoor_temp=0.0,"
                 f"heat_power=120.0 {int(now) - 60}")
    lines.append(f"telemetry,station=s2,zone=north supply_temp=30.0,outdoor_temp=0.0,"
                 f"heat_power=120.0 {int(now) - 60}")
    write_lines(influx, db, lines)


async def post(client: httpx.AsyncClient, body: dict[str, object], role: str = "hotline"
               ) -> httpx.Response:
    return await client.post("/api/v1/complaints", json=body, headers=auth(role))


async def test_complaint_verdicts_from_the_data(
    client: httpx.AsyncClient, influx: InfluxServer, database: str, store: Store
) -> None:
    fill_flats(influx, database, time.time())
    cold = await post(client, {"station": "s1", "meter": "f1", "channel": "12345",
                               "text": "radiators cold since this morning"})
    assert cold.status_code == 201, cold.text
    body = cold.json()
    assert (body["ticket"], body["status"], body["created_by"]) == ("T000001", "open",
                                                                    "hotline-key")
    v = body["verdict"]
    assert (v["finding"], v["cause"], v["temp_c"], v["station_normal"]) == (
        "cold", "building", 16.2, True)
    assert v["text_en"].startswith("confirmed: 16.2 °C, 9 h under 18 °C in the last 24 h, "
                                   "station normal: building-side problem")
    assert v["text_zh"].startswith("属实：室温 16.2 °C，近24小时有 9 小时低于 18 °C")

    warm = (await post(client, {"station": "s1", "meter": "f2", "channel": "app",
                                "text": "cold"})).json()
    assert (warm["status"], warm["verdict"]["finding"]) == ("open", "warm")

    no_sensor = (await post(client, {"station": "s1", "address": "flat 7, 3rd floor",
                                     "channel": "phone", "text": "cold"}, "crew")).json()
    assert (no_sensor["status"], no_sensor["verdict"]["finding"]) == ("open", "no_sensor")
    assert no_sensor["verdict"]["text_en"].startswith("no sensor in this flat, station normal")

    # a short station with its alert firing: the station's problem
    stored_alert(store, "supply_below_curve", "s2", "north")
    short = (await post(client, {"station": "s2", "meter": "g1", "channel": "12345",
                                 "text": "cold"})).json()
    assert short["verdict"]["cause"] == "station"
    assert short["verdict"]["station_normal"] is False
    assert "station fault known (supply_below_curve)" in short["verdict"]["text_en"]
    assert short["verdict"]["alerts"] == ["supply_below_curve@s2"]

    listed = (await client.get("/api/v1/complaints", params={"status": "open"},
                               headers=auth("hotline"))).json()
    assert listed["total"] == 4
    assert [c["ticket"] for c in listed["items"]] == ["T000004", "T000003", "T000002", "T000001"]


async def test_complaint_input_is_checked(client: httpx.AsyncClient) -> None:
    base = {"station": "s1", "channel": "12345", "text": "cold"}
    for body, where in (({**base, "station": "nope", "meter": "f1"}, "station"),
                        ({**base, "meter": "zz"}, "meter")):
        r = await post(client, body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", where]
    for body in (base, {**base, "meter": "f1", "channel": "fax"},
                 {**base, "meter": "f1", "reported_at": "2026-01-01T08:00:00"},
                 {**base, "meter": "f1", "text": ""},
                 {**base, "meter": "f1", "reported_at": (datetime.now(UTC) + timedelta(
                     hours=1)).isoformat()}):
        assert (await post(client, body)).status_code == 422


async def test_a_ticket_is_taken_while_influxdb_is_down(make_app: AppFactory,
                                                        api_settings: ApiSettings) -> None:
    influx = api_settings.influx.model_copy(update={"url": "http://127.0.0.1:9"})
    app = make_app(influx=influx)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        r = await post(c, {"station": "s1", "meter": "f1", "channel": "12345", "text": "cold"})
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["verdict"]["finding"]) == ("open", "no_data")


async def test_lifecycle_and_kpis(client: httpx.AsyncClient) -> None:
    reported = (datetime.now(UTC) - timedelta(hours=4)).isoformat()
    body = {"station": "s1", "meter": "f1", "channel": "12345", "text": "cold",
            "reported_at": reported}
    first = (await post(client, body)).json()["ticket"]
    await post(client, body)
    await post(client, {**body, "meter": "f3"})
    visit = await client.post(f"/api/v1/complaints/{first}/visit", json={"note": "bled"},
                              headers=auth("crew"))
    assert visit.status_code == 200
    assert (visit.json()["status"], visit.json()["visited_by"]) == ("visited", "crew-key")
    done = await client.post(f"/api/v1/complaints/{first}/resolve",
                             json={"note": "19.8 °C measured"}, headers=auth("crew"))
    assert done.json()["status"] == "resolved"
    again = await client.post(f"/api/v1/complaints/{first}/resolve", json={"note": "x"},
                              headers=auth("crew"))
    assert again.status_code == 409
    one = (await client.get(f"/api/v1/complaints/{first}", headers=auth("hotline"))).json()
    assert [(e["kind"], e["who"]) for e in one["events"]] == [
        ("opened", "hotline-key"), ("visited", "crew-key"), ("resolved", "crew-key")]
    k = (await client.get("/api/v1/complaints/kpis", headers=auth("viewer"))).json()
    assert (k["complaints"], k["resolved"], k["repeat_complaints"], k["repeat_flats"]) == (
        3, 1, 1, 1)
    assert k["share_resolved"] == pytest.approx(1 / 3)
    assert k["first_visit_h_median"] == pytest.approx(4.0, abs=0.05)
    assert k["worst_flats"] == [{"station": "s1", "meter": "f1", "complaints": 2}]
    missing = await client.get("/api/v1/complaints/T000404", headers=auth("hotline"))
    assert missing.status_code == 404


async def test_comfort_days_from_the_stored_ledger(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    now = time.time()
    fill_flats(influx, database, now)
    sink = AlertEventSink(InfluxSettings(url=influx.url, database=database))
    source = HistorySource(InfluxSettings(url=influx.url, database=database))
    yesterday = datetime.fromtimestamp(now, ZoneInfo("Europe/Helsinki")).date() - timedelta(
        days=1)  # the app's rules: the default time zone
    rows = day_rows(source.query, registry(), RulesConfig(), ComfortConfig(), "north",
                    yesterday)
    assert write_rows(sink.write_lines, rows, 18.0) == 6
    r = await client.get("/api/v1/comfort", params={"station": "s1", "from": str(yesterday),
                                                    "to": str(yesterday)},
                         headers=auth("viewer"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 5
    by_meter = {i["meter"]: i for i in page["items"]}
    assert by_meter["f2"]["band"] == "warm" and by_meter["f2"]["hours"] in (23, 24, 25)
    assert by_meter["f5"]["band"] == "no_data"
    warm_only = (await client.get("/api/v1/comfort", params={
        "zone": "north", "from": str(yesterday), "to": str(yesterday), "band": "warm",
        "limit": 1}, headers=auth("viewer"))).json()
    assert warm_only["total"] >= 1 and len(warm_only["items"]) == 1
    assert all(i["band"] == "warm" for i in warm_only["items"])
    everywhere = (await client.get("/api/v1/comfort", params={
        "from": str(yesterday), "to": str(yesterday)}, headers=auth("viewer"))).json()
    assert everywhere["total"] == 6  # every zone: s1's five flats and s2's one
    assert [i["meter"] for i in everywhere["items"]] == ["f1", "f2", "f3", "f4", "f5", "g1"]
    before = (await client.get("/api/v1/comfort", params={
        "zone": "north", "to": str(yesterday - timedelta(days=1))}, headers=auth("viewer")))
    assert before.json()["total"] == 0
    bad = await client.get("/api/v1/comfort", params={"from": "2026-01-10", "to": "2026-01-09"},
                           headers=auth("viewer"))
    assert bad.status_code == 422
    for params in ({"to": "0001-01-03"}, {"from": "0001-01-01"}, {"to": "2000-01-03"},
                   {"to": "9999-12-31"}):  # a default from near date.min overflowed: a 500
        far = await client.get("/api/v1/comfort", params=params, headers=auth("viewer"))
        assert far.status_code == 422, (params, far.text)


async def test_station_flats_today(client: httpx.AsyncClient, influx: InfluxServer,
                                   database: str) -> None:
    fill_flats(influx, database, time.time())
    r = await client.get("/api/v1/comfort/today", params={"station": "s1"},
                         headers=auth("viewer"))
    assert r.status_code == 200, r.text
    today = r.json()
    assert (today["station"], today["zone"], today["timezone"]) == ("s1", "north",
                                                                   "Europe/Helsinki")
    flats = {f["meter"]: f for f in today["flats"]}
    assert list(flats) == ["f1", "f2", "f3", "f4", "f5"]
    assert (flats["f2"]["floor"], flats["f3"]["floor"], flats["f3"]["position"]) == (5, 5, 2)
    assert flats["f3"]["gable_end"] and flats["f3"]["top_floor"]
    assert flats["f1"]["latest_c"] == 16.2
    assert flats["f2"]["band"] in ("warm", "no_data")  # no_data only in the first minutes
    assert flats["f4"]["band"] == "no_data" and flats["f4"]["latest_c"] is None
    unknown = await client.get("/api/v1/comfort/today", params={"station": "zz"},
                               headers=auth("viewer"))
    assert unknown.status_code == 422

