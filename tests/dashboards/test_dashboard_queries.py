"""Every panel, variable and annotation query of the committed dashboards runs against the real
InfluxDB filled by the simulator + collector (dash_fill.py) and returns data.

Template variables are substituted the way Grafana does before the query is sent: ``$zone`` and
``$station`` with real (regex-escaped) values, ``$instance`` with the All value ``.*``,
``$timeFilter`` with a time condition and ``$__interval`` with a duration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dash_fill import Filled, fill

from dashboards.build import load_json
from dashboards.influxql import below_expr, curve_expr
from heatwatch.local.servers import InfluxServer, MosquittoServer

pytestmark = pytest.mark.servers


def substitute(query: str, filled: Filled) -> str:
    values = {
        "$timeFilter": "time > now() - 5h",
        "$__interval": "5m",
        "$zone": re.escape(filled.zone),
        "$station": re.escape(filled.station),
        "$instance": ".*",
    }
    for key, value in values.items():
        query = query.replace(key, value)
    assert not re.search(r"\$[A-Za-z_]", query), f"unsubstituted variable in {query}"
    return query


@pytest.fixture(scope="module")
def filled(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: MosquittoServer, influx: InfluxServer
) -> Iterator[Filled]:
    yield fill(tmp_path_factory.mktemp("dash-fill"), mosquitto, influx, "dashboards_q")


def _values(influx: InfluxServer, db: str, query: str) -> list[Any]:
    series = influx.query(query, db=db)
    out: list[Any] = []
    for s in series:
        for row in s.get("values", []):  # type: ignore[union-attr]
            out += [v for v in row[1:] if v is not None]
    return out


def _queries() -> list[tuple[str, str, str]]:
    """(dashboard, what, query) for every query in every committed dashboard."""
    out = []
    for name, doc in load_json().items():
        for panel in doc["panels"]:
            for t in panel["targets"]:
                query = t["query"]
                if "timeFrom" in panel:  # the panel's relative time replaces the dashboard's
                    query = query.replace("$timeFilter", f"time > now() - {panel['timeFrom']}")
                out.append((name, f"{panel['title']} [{t['refId']}]", query))
        for v in doc["templating"]["list"]:
            if v["type"] == "query":  # the datasource variable's query is a plugin id
                out.append((name, f"variable {v['name']}", v["query"]))
        for a in doc["annotations"]["list"]:
            if not a.get("builtIn"):
                out.append((name, f"annotation {a['name']}", a["target"]["query"]))
    return out


QUERIES = _queries()


@pytest.mark.parametrize(("dashboard", "what", "query"), QUERIES,
                         ids=[f"{d}:{w}" for d, w, _ in QUERIES])
def test_query_returns_data(
    filled: Filled, influx: InfluxServer, dashboard: str, what: str, query: str
) -> None:
    values = _values(influx, filled.database, substitute(query, filled))
    assert values, f"{dashboard}: {what} returned no data"


def test_station_queries_see_the_fault_and_the_offline_station(
    filled: Filled, influx: InfluxServer
) -> None:
    docs = load_json()
    fleet = {p["title"]: p for p in docs["fleet-overview"]["panels"]}
    targets = fleet["Stations by state"]["targets"]
    online, offline = (_values(influx, filled.database, substitute(t["query"], filled))
                       for t in targets[:2])
    # north = st-00001..3; st-00002 lost power at the end of the run.
    assert (online, offline) == ([2], [1])
    alerts = fleet["Active alerts by kind"]["targets"][0]["query"]
    series = influx.query(substitute(alerts, filled), db=filled.database)
    active = {s["tags"]["rule"]: s["values"][0][1] for s in series}  # type: ignore[index]
    assert active == {"makeup_surge": 1, "zone_cold": 1}  # pump_stopped was resolved


def test_supply_against_setpoint_and_hourly_panels(filled: Filled, influx: InfluxServer) -> None:
    """The setpoint column has values for a station that reports supply_setpoint, the gap is
    supply minus setpoint, and the long-range panels read the hourly policy."""
    station = {p["title"]: p for p in load_json()["station-detail"]["panels"]}
    query = station["Supply against its setpoint"]["targets"][0]["query"]
    series = influx.query(substitute(query, filled), db=filled.database)  # st-00003 reports it
    rows = [r for r in series[0]["values"] if r[2] is not None]  # type: ignore[union-attr]
    assert rows
    for _, supply, setpoint, gap in rows:
        assert gap == pytest.approx(supply - setpoint)
    hourly = [t["query"] for d in load_json().values() for p in d["panels"]
              for t in p["targets"] if '"hourly"."telemetry"' in t["query"]]
    assert len(hourly) == 2  # station long range, fleet heat power long range


def test_comfort_panels_add_up_the_ledger(filled: Filled, influx: InfluxServer) -> None:
    """Flats under the standard and the season's exposure, summed by the panels, equal the
    ledger's own totals (the fill writes yesterday and today so far)."""
    panels = {p["title"]: p for p in load_json()["zone-flats"]["panels"]}
    subs = {**dict.fromkeys(("$zone", "$station"), ".*"), "$timeFilter": "time > now() - 3d"}

    def run(title: str) -> dict[str, list[float]]:
        q = panels[title]["targets"][0]["query"]
        for k, v in subs.items():
            q = q.replace(k, v)
        return {s["tags"]["zone"]: [r[1] for r in s["values"]]  # type: ignore[index]
                for s in influx.query(q, db=filled.database)}

    under = run("Flats under the standard per day")
    exposure = run("Refund exposure over the season")
    assert sorted(under) == sorted(filled.comfort) == ["north", "south"]
    for zone, (below, refund) in filled.comfort.items():
        assert sum(under[zone]) == below
        assert exposure[zone][-1] == pytest.approx(refund)
    assert sum(b for b, _ in filled.comfort.values()) > 0  # the fill has refund days
    assert sum(r for _, r in filled.comfort.values()) > 0


def test_weather_curve_and_threshold_expressions(influx: InfluxServer) -> None:
    """The InfluxQL tricks compute what they claim, on the real InfluxDB."""
    db = "dashboards_expr"
    influx.create_database(db)
    base = 1_700_000_000
    outdoor = [-30.0, -19.0, -7.0, 5.0, 12.0]
    lines = [f"t,s=a o={o},i={o + 20} {(base + i) * 10**9}" for i, o in enumerate(outdoor)]
    resp = httpx.post(f"{influx.url}/write", params={"db": db}, content="\n".join(lines))
    resp.raise_for_status()
    window = f"time >= {base}s AND time < {base + 10}s"
    q = f'SELECT {curve_expr("mean(o)")} FROM t WHERE {window} GROUP BY time(1s) fill(none)'
    got = _values(influx, db, q)
    assert got == pytest.approx([55.0, 55.0, 45.0, 35.0, 35.0])
    q = f'SELECT {below_expr("i", 18)} AS b FROM t WHERE {window}'
    assert _values(influx, db, q) == [1, 1, 1, 0, 0]  # indoor -10, 1, 13 < 18 <= 25, 32
