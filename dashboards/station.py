"""Station detail: everything a crew checks before driving out to one substation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.rules import RULES
from alerts.rules.leak import MAKEUP_SURGE
from alerts.rules.spec import PlotPanel
from dashboards.fleet import ZONE_VARIABLE
from dashboards.influxql import HOURLY, STATION, TIME, curve_expr
from dashboards.links import FLEET_URL, ZONE_URL
from dashboards.model import Annotation, Dashboard, Link, Panel, Query, Variable

__all__ = ["FLOW_UNIT", "STATION_VARIABLE", "station_detail"]

# Grafana has no m³/h unit id (categories.ts: flowcms is m³/s); an unknown id would be shown
# literally, so a custom suffix it is (valueFormats.ts: "suffix:<text>").
FLOW_UNIT = "suffix:m³/h"

STATION_VARIABLE = Variable(
    name="station",
    label="Station",
    query='SHOW TAG VALUES FROM "telemetry" WITH KEY = "station" WHERE "zone" =~ /^$zone$/',
    multi=False,
    include_all=False,
)
_WHERE = f"WHERE {STATION} AND {TIME}"
_GROUP = "GROUP BY time($__interval) fill(none)"


def _mean(*fields: tuple[str, str]) -> Query:
    cols = ", ".join(f'mean("{f}") AS "{label}"' for f, label in fields)
    return Query(f'SELECT {cols} FROM "telemetry" {_WHERE} {_GROUP}', alias="$col")


def _explains(*panels: PlotPanel) -> str:
    """The rules whose alerts these series explain, from their declarations
    (``RuleSpec.plot``): a crew reading an alert knows which panel to look at."""
    names = [spec.name for spec in RULES if spec.plot in panels]
    return f" Alerts these series explain: {', '.join(names)}." if names else ""


def _dashed(name: str) -> Mapping[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "color", "value": {"fixedColor": "orange", "mode": "fixed"}},
        ],
    }


def _temperatures() -> Panel:
    setpoint = curve_expr('mean("outdoor_temp")')
    return Panel(
        "Supply and return temperatures",
        "timeseries",
        [
            _mean(("primary_supply_temp", "primary supply"),
                  ("primary_return_temp", "primary return"),
                  ("supply_temp", "secondary supply"), ("return_temp", "secondary return"),
                  ("supply_setpoint", "setpoint (controller)")),
            Query(f'SELECT {setpoint} AS "setpoint (curve)" FROM "telemetry" {_WHERE} {_GROUP}',
                  alias="$col"),
        ],
        w=24,
        h=9,
        unit="celsius",
        description="Primary (district network) and secondary (building) loops. The dashed "
        "line is the weather-curve setpoint computed in InfluxQL from the outdoor sensor "
        "(55 °C at -19 °C, 35 °C at +5 °C, clamped); the controller filters the outdoor "
        "temperature and may apply a night setback, so small offsets are normal. Stations "
        "that report their controller's own target (supply_setpoint) show it as a second "
        "dashed line." + _explains(PlotPanel.TEMPERATURES, PlotPanel.PRIMARY),
        overrides=[_dashed("setpoint (curve)"), _dashed("setpoint (controller)")],
    )


def _supply_vs_setpoint() -> Panel:
    return Panel(
        "Supply against its setpoint",
        "timeseries",
        [Query(
            'SELECT mean("supply_temp") AS "supply", mean("supply_setpoint") AS "setpoint", '
            'mean("supply_temp") - mean("supply_setpoint") AS "supply - setpoint" '
            f'FROM "telemetry" {_WHERE} {_GROUP}',
            alias="$col",
        )],
        w=12,
        unit="celsius",
        description="Secondary supply against the setpoint the station's controller reports "
        "(supply_setpoint, wire v1), and their difference: a controller that cannot reach its "
        "own target (valve, primary side) shows a lasting negative gap. Stations whose "
        "controller does not report a setpoint show supply only; their weather curve "
        "(calibrated or default) is plotted by the operator page (GET /api/v1/stations/{id}/"
        "curve).",
        overrides=[_dashed("setpoint")],
    )


def _long_range() -> Panel:
    return Panel(
        "Supply, return and outdoor, hourly means (long range)",
        "timeseries",
        [Query(
            'SELECT mean("supply_temp") AS "supply", mean("return_temp") AS "return", '
            'mean("supply_setpoint") AS "setpoint", mean("outdoor_temp") AS "outdoor" '
            f'FROM {HOURLY}."telemetry" {_WHERE} GROUP BY time($__interval) fill(none)',
            alias="$col",
        )],
        w=12,
        unit="celsius",
        interval="1h",
        description="From the hourly retention policy (continuous queries, kept for years "
        "while raw readings expire after 90 days): use this panel for months and seasons. "
        "The current hour appears once it has ended.",
    )


def _pressures() -> Panel:
    return Panel(
        "Pressures",
        "timeseries",
        [_mean(("primary_supply_pressure", "primary supply"),
               ("primary_return_pressure", "primary return"),
               ("supply_pressure", "secondary supply"), ("return_pressure", "secondary return"))],
        w=12,
        unit="pressurebar",
        description="Gauge pressures. A falling secondary return pressure with rising make-up "
        "water is the signature of a leak." + _explains(PlotPanel.PRESSURE),
    )


def _flows() -> Panel:
    return Panel(
        "Flows",
        "timeseries",
        [_mean(("flow", "secondary flow"), ("primary_flow", "primary flow"))],
        w=12,
        unit=FLOW_UNIT,
        description="Circulating flows (m³/h)." + _explains(PlotPanel.FLOW),
    )


def _makeup() -> Panel:
    p = MAKEUP_SURGE.model()  # the shipped limit: a rules file may set another one
    line = f"{p.ratio * 100:g} % of circulation"
    return Panel(
        f"Make-up water against the {p.ratio * 100:g} % line",
        "timeseries",
        [
            Query(
                f'SELECT mean("makeup_flow") AS "make-up", {p.ratio:g} * mean("flow") AS '
                f'"{line}" FROM "telemetry" {_WHERE} {_GROUP}',
                alias="$col",
            )
        ],
        w=12,
        unit=FLOW_UNIT,
        description=f"Make-up water replaces what leaks out. Above {p.ratio * 100:g} % of the "
        f"circulating flow for {p.for_s / 60:g} minutes the makeup_surge alert fires (the "
        "shipped limit)." + _explains(PlotPanel.MAKEUP),
        overrides=[_dashed(line)],
    )


def _pump() -> Panel:
    return Panel(
        "Pump and power",
        "state-timeline",
        [
            Query(
                'SELECT last("pump_running") AS "pump running", last("power_ok") AS "power ok" '
                f'FROM "telemetry" {_WHERE} {_GROUP}',
                alias="$col",
            )
        ],
        w=12,
        description="Circulation pump on/off and mains power as reported by the station.",
        options={"mergeValues": True, "showValue": "never"},
        custom={"fillOpacity": 80},
    )


def _pump_freq() -> Panel:
    return Panel(
        "Pump frequency and heat power",
        "timeseries",
        [_mean(("pump_freq", "pump frequency (Hz)"), ("heat_power", "heat power (kW)"))],
        w=12,
        description="Drive frequency of the circulation pump and the station's heat power.",
    )


def _status() -> Panel:
    return Panel(
        "Station status",
        "stat",
        [
            Query(
                'SELECT last("state") AS "state" FROM "station_status" '
                f"WHERE {STATION} AND time > now() - 30d",
                alias="state",
                result_format="table",
            )
        ],
        w=12,
        h=8,
        description="Last status message (online/offline), looked up over 30 days.",
        options={"colorMode": "background", "graphMode": "none", "textMode": "value",
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^state$/",
                                   "values": False}},
        overrides=[],
        custom={},
    )


def station_detail() -> Dashboard:
    return Dashboard(
        uid="heatwatch-station",
        title="heatwatch / Station detail",
        description="One station: temperatures with the weather curve, pressures, flows, "
        "make-up water, pump, and its alerts as annotations.",
        panels=[_temperatures(), _supply_vs_setpoint(), _long_range(), _pressures(), _flows(),
                _makeup(), _pump(), _pump_freq(), _status()],
        variables=[ZONE_VARIABLE, STATION_VARIABLE],
        links=[Link("Flats of this zone", f"{ZONE_URL}?var-zone=$zone"),
               Link("Fleet overview", FLEET_URL)],
        annotations=[
            Annotation(
                "Station alerts",
                'SELECT "title", "text", "tags" FROM "alert_events" '
                f"WHERE {STATION} AND {TIME}",
            ),
            Annotation(
                "Zone alerts",
                'SELECT "title", "text", "tags" FROM "alert_events" '
                f"WHERE \"zone\" =~ /^$zone$/ AND \"station\" = '' AND {TIME}",
                color="orange",
            ),
        ],
        tags=("heatwatch", "station"),
    )
