"""Fleet overview: the control-room wall. Is anything down, leaking or cold, and where?"""

from __future__ import annotations

from dashboards.influxql import HOURLY, TIME, ZONE, below_expr
from dashboards.links import station_link, zone_link
from dashboards.model import Dashboard, Panel, Query, Threshold, Variable

__all__ = ["ZONE_VARIABLE", "fleet_overview"]

ZONE_VARIABLE = Variable(
    name="zone", label="Zone", query='SHOW TAG VALUES FROM "telemetry" WITH KEY = "zone"'
)
# Status messages are rare (retained, sent on change), so "last state" looks back 30 days
# instead of the dashboard's time range: a station that went offline last week is still offline.
_LAST_STATE = (
    'SELECT last("state") AS "state" FROM "station_status" '
    f"WHERE {ZONE} AND time > now() - 30d GROUP BY \"station\""
)
# Alerts are identified by (rule, station, zone); the last event of each decides whether it is
# still active. Resolved and cancelled end an alert; pending has not fired yet.
_LAST_ALERT_EVENT = (
    'SELECT last("seq") AS "seq", "event" AS "ev" FROM "alert_events" '
    f"WHERE {ZONE} AND time > now() - 30d GROUP BY \"rule\", \"station\", \"zone\""
)


def _stations_by_state() -> Panel:
    return Panel(
        "Stations by state",
        "stat",
        [
            Query(f"SELECT count(\"state\") AS \"online\" FROM ({_LAST_STATE}) "
                  "WHERE \"state\" = 'online'", alias="online"),
            Query(f"SELECT count(\"state\") AS \"offline\" FROM ({_LAST_STATE}) "
                  "WHERE \"state\" = 'offline'", alias="offline"),
            Query(
                'SELECT count("v") AS "reporting" FROM (SELECT last("supply_temp") AS "v" '
                f'FROM "telemetry" WHERE {ZONE} AND time > now() - 5m GROUP BY "station")',
                alias="reporting (5 min)",
            ),
        ],
        w=8,
        description="Last status message per station (online/offline, looked up over 30 days) "
        "and how many stations sent telemetry in the last 5 minutes. A station that is "
        "'online' but not reporting has a gateway or sensor problem.",
        options={"colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


def _active_alerts() -> Panel:
    return Panel(
        "Active alerts by kind",
        "bargauge",
        [
            Query(
                f'SELECT count("seq") AS "active" FROM ({_LAST_ALERT_EVENT}) '
                "WHERE \"ev\" != 'resolved' AND \"ev\" != 'cancelled' AND \"ev\" != 'pending' "
                'GROUP BY "rule"',
                alias="$tag_rule",
            )
        ],
        w=8,
        description="Alerts whose last event (alert_events, written by the alert engine) is "
        "not resolved, cancelled or still pending, counted per rule.",
        thresholds=(Threshold("green"), Threshold("orange", 1), Threshold("red", 5)),
        options={"displayMode": "basic", "orientation": "horizontal",
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


def _stations_with_alerts() -> Panel:
    return Panel(
        "Stations with active alerts",
        "table",
        [
            Query(
                f'SELECT count("seq") AS "active alerts" FROM ({_LAST_ALERT_EVENT}) '
                "WHERE \"ev\" != 'resolved' AND \"ev\" != 'cancelled' AND \"ev\" != 'pending' "
                "AND \"station\" != '' GROUP BY \"station\", \"zone\"",
                result_format="table",
            )
        ],
        w=8,
        description="Each station with alerts still active; click a station for its detail.",
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        links=[station_link("Station ${__data.fields.station}", "${__data.fields.zone}",
                            "${__data.fields.station}")],
    )


def _zone_cold_share() -> Panel:
    cold = below_expr('"indoor_temp"', 18)
    return Panel(
        "Share of flats under 18 °C, by zone",
        "timeseries",
        [
            Query(
                f'SELECT 100 * mean("cold") FROM (SELECT {cold} AS "cold" FROM "meter" '
                f'WHERE {ZONE} AND {TIME} GROUP BY "zone") WHERE {TIME} '
                'GROUP BY time($__interval), "zone" fill(none)',
                alias="$tag_zone",
            )
        ],
        w=8,
        unit="percent",
        min=0,
        max=100,
        description="Share of flat readings below 18 °C (the heating standard) per zone. The "
        "zone_cold alert fires above 10 % for 30 minutes. Click a line for the zone's flats.",
        links=[zone_link("Flats of zone ${__field.labels.zone}", "${__field.labels.zone}")],
        thresholds=(Threshold("green"), Threshold("orange", 5), Threshold("red", 10)),
        custom={"thresholdsStyle": {"mode": "line"}},
    )


def _heat_power() -> Panel:
    return Panel(
        "Total heat power",
        "timeseries",
        [
            Query(
                'SELECT sum("p") FROM (SELECT mean("heat_power") AS "p" FROM "telemetry" '
                f'WHERE {ZONE} AND {TIME} GROUP BY time($__interval), "station") '
                f"WHERE {TIME} GROUP BY time($__interval) fill(none)",
                alias="heat power",
            )
        ],
        w=12,
        unit="kwatt",
        description="Sum over stations of each station's mean heat power per interval "
        "(summing raw readings would count a station once per reading).",
        custom={"fillOpacity": 10},
    )


def _heat_power_hourly() -> Panel:
    return Panel(
        "Total heat power, hourly means (long range)",
        "timeseries",
        [
            Query(
                'SELECT sum("p") FROM (SELECT mean("heat_power") AS "p" '
                f'FROM {HOURLY}."telemetry" WHERE {ZONE} AND {TIME} '
                f'GROUP BY time($__interval), "station") WHERE {TIME} '
                "GROUP BY time($__interval) fill(none)",
                alias="heat power (hourly)",
            )
        ],
        w=12,
        unit="kwatt",
        interval="1h",
        description="The same sum from the hourly retention policy (continuous queries; kept "
        "for years while raw readings expire): for months and heating seasons.",
        custom={"fillOpacity": 10},
    )


def _outdoor() -> Panel:
    return Panel(
        "Outdoor temperature",
        "timeseries",
        [
            Query(
                f'SELECT mean("outdoor_temp") FROM "telemetry" WHERE {ZONE} AND {TIME} '
                'GROUP BY time($__interval), "zone" fill(none)',
                alias="$tag_zone",
            )
        ],
        w=12,
        unit="celsius",
        description="Mean of the stations' outdoor sensors per zone; the weather curve sets "
        "the supply temperature from it.",
        links=[zone_link("Flats of zone ${__field.labels.zone}", "${__field.labels.zone}")],
    )


def fleet_overview() -> Dashboard:
    return Dashboard(
        uid="heatwatch-fleet",
        title="heatwatch / Fleet overview",
        description="Stations by state, active alerts, cold zones, total heat, weather.",
        panels=[_stations_by_state(), _active_alerts(), _zone_cold_share(),
                _stations_with_alerts(), _heat_power(), _heat_power_hourly(), _outdoor()],
        variables=[ZONE_VARIABLE],
        tags=("heatwatch", "fleet"),
    )
