"""Stations, history and zones against the real InfluxDB filled with line protocol."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_helpers import auth, fill_fleet, stored_alert, write_lines

from alerts.model import AlertState
from alerts.store import Store
from api.schemas import StationList
from heatwatch.local.servers import InfluxServer
from heatwatch.retention import RetentionSettings, backfill

pytestmark = pytest.mark.anyio
V = auth("viewer")


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


async def test_station_list_status_last_reading_and_alerts(
    client: httpx.AsyncClient, influx: InfluxServer, database: str, store: Store
) -> None:
    fill_fleet(influx, database)
    stored_alert(store, "pump_stopped", "s3", "south")
    stored_alert(store, "power_loss", "s1", "north", state=AlertState.RESOLVED)
    body = (await client.get("/api/v1/stations", headers=V)).json()
    StationList.model_validate(body)  # the pre-serialised body keeps the published schema
    by_id = {s["id"]: s for s in body["items"]}
    assert body["total"] == 6
    assert [s["id"] for s in body["items"]] == ["s1", "s2", "s3", "s4", "s5", "ghost"]
    assert {k: v["status"] for k, v in by_id.items()} == {
        "s1": "online",  # fresh, only a resolved alert
        "s2": "offline",  # silent for an hour
        "s3": "alerting",  # fresh with a firing alert
        "s4": "offline",  # reported offline after its last reading
        "s5": "offline",  # never reported
        "ghost": "online",  # not in the registry, still listed
    }
    s1 = by_id["s1"]
    assert s1["name"] == "Main St 1" and s1["zone"] == "north"
    assert s1["last"] == {"supply_temp": 70.0, "return_temp": 40.0, "pump_running": True,
                          "power_ok": True}
    assert s1["active_alerts"] == 0
    assert by_id["s3"]["active_alerts"] == 1 and by_id["s3"]["worst_severity"] == "critical"
    assert by_id["s5"]["last_seen"] is None and by_id["s5"]["last"] == {}
    assert by_id["ghost"]["zone"] == "unassigned"
    seen = datetime.fromisoformat(s1["last_seen"]).timestamp()
    assert time.time() - 60 < seen <= time.time()


async def test_station_list_filters_and_paging(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    fill_fleet(influx, database)
    south = (await client.get("/api/v1/stations?zone=south", headers=V)).json()
    assert [s["id"] for s in south["items"]] == ["s3", "s4", "s5"]
    offline = (await client.get("/api/v1/stations?status=offline", headers=V)).json()
    assert {s["id"] for s in offline["items"]} == {"s2", "s4", "s5"}
    page = (await client.get("/api/v1/stations?limit=2&offset=1", headers=V)).json()
    assert page["total"] == 6 and [s["id"] for s in page["items"]] == ["s2", "s3"]


async def test_station_list_is_cached_between_requests(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    fill_fleet(influx, database)
    first = (await client.get("/api/v1/stations", headers=V)).json()
    influx.query('DROP MEASUREMENT "telemetry"', db=database)
    second = (await client.get("/api/v1/stations", headers=V)).json()
    assert second == first  # served from the snapshot, no new InfluxDB query
    metrics = (await client.get("/metrics")).text
    assert 'heatwatch_api_fleet_cache_total{result="hit"} 1.0' in metrics
    assert 'heatwatch_api_fleet_cache_total{result="miss"} 1.0' in metrics


async def test_station_detail_and_404(
    client: httpx.AsyncClient, influx: InfluxServer, database: str, store: Store
) -> None:
    fill_fleet(influx, database)
    alert = stored_alert(store, "pump_stopped", "s3", "south")
    s1 = (await client.get("/api/v1/stations/s1", headers=V)).json()
    assert s1["registered"] is True and s1["report_interval_s"] == 10.0
    assert [m["id"] for m in s1["meters"]] == ["f1", "f2", "f3", "f4", "f5"]
    assert s1["meters"][2] == {"id": "f3", "floor": 5, "top_floor": True, "gable_end": True}
    s3 = (await client.get("/api/v1/stations/s3", headers=V)).json()
    assert [a["id"] for a in s3["alerts"]] == [alert.id]
    assert s3["alerts"][0]["family"] == "outage"
    ghost = (await client.get("/api/v1/stations/ghost", headers=V)).json()
    assert ghost["registered"] is False and ghost["meters"] == []
    missing = await client.get("/api/v1/stations/nosuch", headers=V)
    assert missing.status_code == 404 and "nosuch" in missing.json()["detail"]
    bad = await client.get("/api/v1/stations/bad%20id", headers=V)
    assert bad.status_code == 422


async def test_history_24h_at_one_minute(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    fleet = fill_fleet(influx, database)
    params = {"field": "supply_temp", "start": iso(fleet.minute0), "end": iso(fleet.end),
              "resolution": "1m"}
    body = (await client.get("/api/v1/stations/s1/history", params=params, headers=V)).json()
    assert body["unit"] == "°C" and body["agg"] == "mean" and body["resolution_s"] == 60
    points = body["points"]
    assert len(points) == 1440
    assert [p["value"] for p in points[:12]] == [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 60, 61]
    assert datetime.fromisoformat(points[0]["t"]).timestamp() == fleet.minute0


async def test_history_downsamples_with_the_chosen_aggregate(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    fleet = fill_fleet(influx, database)
    start = -(-fleet.minute0 // 600) * 600  # buckets are aligned to the epoch
    params = {"field": "supply_temp", "start": iso(start), "end": iso(start + 3600),
              "resolution": "10m"}
    mean = (await client.get("/api/v1/stations/s1/history", params=params, headers=V)).json()
    assert [p["value"] for p in mean["points"]] == [64.5] * 6
    params["agg"] = "max"
    top = (await client.get("/api/v1/stations/s1/history", params=params, headers=V)).json()
    assert [p["value"] for p in top["points"]] == [69.0] * 6
    other = (await client.get("/api/v1/stations/ghost2/history", params=params, headers=V))
    assert other.status_code == 200 and other.json()["points"] == []


@pytest.mark.parametrize(("params", "reason"), [
    ({"field": "pump_running"}, "unknown field"),
    ({"field": "supply_temp) FROM x; DROP DATABASE y --"}, "unknown field"),
    ({"field": "supply_temp", "resolution": "1w"}, "resolution must be"),
    ({"field": "supply_temp", "resolution": "0s"}, "resolution must be"),
    ({"field": "supply_temp", "resolution": "30d"}, "at most 7d"),
    ({"field": "supply_temp", "resolution": "1s"}, "buckets requested"),
    ({"field": "supply_temp", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
     "start must be before end"),
    ({"field": "supply_temp", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z",
      "resolution": "1d"}, "at most 366 days"),
    ({"field": "supply_temp", "start": "2026-01-01T00:00:00"}, "time zone offset"),
    ({"field": "supply_temp", "start": "1900-01-01T00:00:00Z"}, "between 2000-01-01"),
    ({"field": "supply_temp", "agg": "sum"}, "Input should be"),
    ({}, "Field required"),
])
async def test_history_rejects_bad_parameters_with_422(
    client: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    resp = await client.get("/api/v1/stations/s1/history", params=params, headers=V)
    assert resp.status_code == 422, resp.text
    assert reason in str(resp.json()["detail"])


async def test_zone_distribution(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    fill_fleet(influx, database)
    north = (await client.get("/api/v1/zones/north?coldest=3", headers=V)).json()
    assert north["flats_reporting"] == 6
    assert north["below_c"] == 18.0 and north["below"] == 3 and north["share_below"] == 0.5
    assert north["min"] == 15.0 and north["max"] == 22.0
    assert north["median"] == pytest.approx((17.5 + 19.9) / 2)
    assert [(f["station"], f["meter"], f["indoor_temp"]) for f in north["coldest"]] == [
        ("s2", "g1", 15.0), ("s1", "f3", 16.0), ("s1", "f2", 17.5)]
    assert north["coldest"][1]["top_floor"] and north["coldest"][1]["gable_end"]
    influx.query('DROP MEASUREMENT "meter"', db=database)
    warmer = (await client.get("/api/v1/zones/north?below=20", headers=V)).json()
    assert warmer["below"] == 4  # same flats, from the zone cache
    south = (await client.get("/api/v1/zones/south", headers=V)).json()
    assert south["flats_reporting"] == 0 and south["median"] is None
    assert (await client.get("/api/v1/zones/nowhere", headers=V)).status_code == 404
    assert (await client.get("/api/v1/zones/north?below=99", headers=V)).status_code == 422


async def test_zone_list_from_registry(client: httpx.AsyncClient) -> None:
    zones = (await client.get("/api/v1/zones", headers=V)).json()
    assert zones == [{"id": "north", "stations": 2, "flats": 6},
                     {"id": "south", "stations": 3, "flats": 0}]


async def test_long_ranges_read_the_hourly_aggregates(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    """Issue 14 item 10: 8 days at 1 h read the hourly policy the continuous queries fill
    (backfilled here), for every aggregate; a short range reads the raw readings."""
    influx.create_database(database, RetentionSettings())
    hour0 = (int(time.time()) // 3600 - 8 * 24) * 3600
    lines = [f"telemetry,station=s1,zone=north supply_temp={50 + (i % 4)} "
             f"{(hour0 + 900 * i) * 10**9}" for i in range(8 * 24 * 4)]  # 4 a hour, 8 days
    resp = httpx.post(f"{influx.url}/write", params={"db": database}, content="\n".join(lines))
    resp.raise_for_status()
    start = datetime.fromtimestamp(hour0, UTC)
    backfill(lambda q: influx.query(q, db=database), database, RetentionSettings(), start,
             start + timedelta(days=8))
    # Marks one hour in the hourly policy only: proves which one answers.
    mark = (f"telemetry,station=s1,zone=north supply_temp=999.0,supply_temp_max=999.0 "
            f"{hour0}000000000")
    resp = httpx.post(f"{influx.url}/write", params={"db": database, "rp": "hourly"},
                      content=mark)
    resp.raise_for_status()
    params = {"field": "supply_temp", "start": iso(hour0), "end": iso(hour0 + 8 * 86400),
              "resolution": "1h"}
    body = (await client.get("/api/v1/stations/s1/history", params=params, headers=V)).json()
    assert body["source"] == "hourly" and len(body["points"]) == 8 * 24
    assert [p["value"] for p in body["points"][:3]] == [999.0, 51.5, 51.5]
    for agg, second in (("min", 50.0), ("max", 53.0), ("last", 53.0)):
        got = (await client.get("/api/v1/stations/s1/history",
                                params={**params, "agg": agg}, headers=V)).json()
        assert got["points"][1]["value"] == second, agg
    daily = (await client.get("/api/v1/stations/s1/history",
                              params={**params, "resolution": "1d"}, headers=V)).json()
    assert daily["source"] == "hourly" and daily["points"][1]["value"] == 51.5
    short = {**params, "end": iso(hour0 + 86400)}
    raw = (await client.get("/api/v1/stations/s1/history", params=short, headers=V)).json()
    assert raw["source"] == "raw" and raw["points"][0]["value"] == 51.5


async def test_station_list_shows_documented_fields_only(
    client: httpx.AsyncClient, influx: InfluxServer, database: str
) -> None:
    """Issue #13 item 6: one reading with 3,000 extra fields grew the list from 1 KB to 109 KB.
    The list selects the documented telemetry fields, so extras never reach it."""
    fill_fleet(influx, database)
    extras = ",".join(f"x{i}={i}.0" for i in range(300))
    write_lines(influx, database, [
        f"telemetry,station=s1,zone=north supply_temp=71.0,{extras} {int(time.time()) - 2}"])
    body = (await client.get("/api/v1/stations", headers=V)).json()
    s1 = {s["id"]: s for s in body["items"]}["s1"]
    assert s1["last"]["supply_temp"] == 71.0
    assert not any(k.startswith("x") for k in s1["last"])
