"""Zone and flats: how warm the residents actually are, and who is owed a refund.

Heating refunds are banded by indoor temperature (under 18 °C and under 13 °C), so the bands
are shown as shares of flats over time; the coldest-flats table names the flats a crew visits
first (top floors and gable ends run coldest; their meter ids carry the floor in the simulator,
and the registry has the position).
"""

from __future__ import annotations

from dashboards.fleet import ZONE_VARIABLE
from dashboards.influxql import TIME, ZONE, below_expr
from dashboards.links import FLEET_URL, station_link
from dashboards.model import Dashboard, Link, Panel, Query, Threshold, Variable

__all__ = ["FORECAST_QUERY", "zone_and_flats"]

_STATIONS = Variable(
    name="station",
    label="Station",
    query='SHOW TAG VALUES FROM "meter" WITH KEY = "station" WHERE "zone" =~ /^$zone$/',
)
_FLATS = f'{ZONE} AND "station" =~ /^$station$/'


def _distribution() -> Panel:
    return Panel(
        "Indoor temperature distribution",
        "timeseries",
        [
            Query(
                'SELECT percentile("indoor_temp", 5) AS "p5", '
                'percentile("indoor_temp", 25) AS "p25", median("indoor_temp") AS "median", '
                'percentile("indoor_temp", 75) AS "p75", percentile("indoor_temp", 95) AS "p95", '
                'min("indoor_temp") AS "min" '
                f'FROM "meter" WHERE {_FLATS} AND {TIME} GROUP BY time($__interval) fill(none)',
                alias="$col",
            )
        ],
        w=16,
        h=9,
        unit="celsius",
        description="Percentiles of the flats' indoor temperature per interval. A falling "
        "p5 with a steady median means a few flats (usually top floor, gable end) are cold.",
        thresholds=(Threshold("red"), Threshold("orange", 13), Threshold("green", 18)),
        custom={"thresholdsStyle": {"mode": "dashed"}},
    )


def _histogram() -> Panel:
    return Panel(
        "Flats by indoor temperature (last hour)",
        "histogram",
        [
            Query(
                'SELECT mean("indoor_temp") AS "indoor" FROM "meter" '
                f'WHERE {_FLATS} AND time > now() - 1h GROUP BY "meter"',
                alias="$tag_meter",
                result_format="table",
            )
        ],
        w=8,
        h=9,
        unit="celsius",
        description="One value per flat: its mean indoor temperature over the last hour.",
        options={"bucketSize": 1, "combine": True, "legend": {"showLegend": False}},
    )


def _coldest() -> Panel:
    return Panel(
        "Coldest flats (last hour)",
        "table",
        [
            Query(
                'SELECT bottom("t", "meter", 20) AS "indoor °C", "station", "zone" FROM '
                '(SELECT mean("indoor_temp") AS "t" FROM "meter" '
                f'WHERE {_FLATS} AND time > now() - 1h GROUP BY "meter", "station", "zone")',
                result_format="table",
            )
        ],
        w=12,
        h=10,
        unit="celsius",
        decimals=1,
        description="The 20 flats with the lowest mean indoor temperature over the last hour. "
        "Check the registry for their position: top floor and gable end flats lose the most "
        "heat.",
        thresholds=(Threshold("red"), Threshold("orange", 13), Threshold("green", 18)),
        custom={"cellOptions": {"type": "color-text"}},
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        links=[station_link("Station ${__data.fields.station}", "${__data.fields.zone}",
                            "${__data.fields.station}")],
    )


def _bands() -> Panel:
    queries = [
        Query(
            f'SELECT 100 * mean("b") AS "under {t} °C" FROM (SELECT '
            f'{below_expr(chr(34) + "indoor_temp" + chr(34), t)} AS "b" FROM "meter" '
            f"WHERE {_FLATS} AND {TIME}) WHERE {TIME} GROUP BY time($__interval) fill(none)",
            alias="$col",
        )
        for t in (18, 13)
    ]
    return Panel(
        "Refund bands: share of flats under 18 °C and under 13 °C",
        "timeseries",
        queries,
        w=12,
        h=10,
        unit="percent",
        min=0,
        description="Share of flat readings under the heating standard (18 °C) and under the "
        "severe band (13 °C) per interval; refunds are computed from the hours spent in each "
        "band.",
        custom={"fillOpacity": 20},
    )


# The comfort ledger (docs/households.md): one comfort_day point per flat and local day,
# stamped at the zone's local midnight. Hourly buckets keep each day in one bucket, at its own
# midnight, whatever the zone's offset (a daily bucket would be a UTC day).
_LEDGER = f'FROM "comfort_day" WHERE {ZONE} AND "station" =~ /^$station$/ AND {TIME}'


def _under_standard() -> Panel:
    return Panel(
        "Flats under the standard per day",
        "timeseries",
        [Query(f'SELECT sum("below_standard") AS "flats" {_LEDGER} '
               'GROUP BY time(1h), "zone" fill(none)', alias="$tag_zone")],
        w=12,
        h=9,
        min=0,
        decimals=0,
        time_from="30d",
        description="Flats whose day (local midnight to midnight) had a mean indoor "
        "temperature under the standard, per zone and day, from the comfort ledger. Days with "
        "too little data are not counted (neither warm nor cold): see heatwatch report comfort.",
        custom={"drawStyle": "bars", "fillOpacity": 60},
    )


def _exposure() -> Panel:
    return Panel(
        "Refund exposure over the season",
        "timeseries",
        [Query(f'SELECT cumulative_sum(sum("refund")) AS "refund" {_LEDGER} '
               'GROUP BY time(1h), "zone" fill(none)', alias="$tag_zone")],
        w=12,
        h=9,
        min=0,
        decimals=0,
        time_from="240d",
        description="Refunds owed so far this season, per zone: each day's refund band share "
        "of the fee times the flat's area (comfort ledger; bands and fees in the comfort "
        "file). Flats without area_m2 in the registry are not priced.",
        custom={"fillOpacity": 15},
    )


def _exposure_by_station() -> Panel:
    return Panel(
        "Refund exposure per station",
        "table",
        [Query(f'SELECT sum("refund") AS "refund", sum("below_standard") AS '
               f'"flat-days under the standard", sum("hours_below") AS "hours under the '
               f'standard" {_LEDGER} GROUP BY "station"', result_format="table")],
        w=24,
        h=8,
        decimals=1,
        time_from="240d",
        description="Totals of the comfort ledger per station over the season: the stations "
        "whose flats cost the most.",
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
    )


# The forecast cycle's zone median at a fixed lead (forecast/cycle.py, measurement
# indoor_forecast, time = the target time): plotted over the actual median, a prediction made
# $lead before each instant sits on the real curve when the model is right.
FORECAST_QUERY = (
    'SELECT mean("median_c") AS "predicted $lead ahead" FROM "indoor_forecast" WHERE '
    f'{ZONE} AND "lead" = \'$lead\' AND {TIME} GROUP BY time($__interval) fill(none)'
)


def _forecast() -> Panel:
    return Panel(
        "Predicted vs actual indoor temperature (median)",
        "timeseries",
        [
            Query('SELECT median("indoor_temp") AS "actual" FROM "meter" WHERE '
                  f'{ZONE} AND {TIME} GROUP BY time($__interval) fill(none)'),
            Query(FORECAST_QUERY.replace("$lead", "3h")),
            Query(FORECAST_QUERY.replace("$lead", "12h")),
        ],
        w=24,
        unit="celsius",
        description="The zone's median indoor temperature, and what the forecast cycle "
        "(cold_predicted) predicted for each instant 3 h and 12 h before it: the flats' "
        "thermal models over the planned supply and the weather forecast (docs/forecast.md).",
    )


def zone_and_flats() -> Dashboard:
    return Dashboard(
        uid="heatwatch-zone",
        title="heatwatch / Zone and flats",
        description="Indoor temperatures of the flats: distribution, coldest flats, refund "
        "bands, and the comfort ledger (flats under the standard per day, refund exposure).",
        panels=[_distribution(), _histogram(), _coldest(), _bands(), _under_standard(),
                _exposure(), _exposure_by_station(), _forecast()],
        variables=[ZONE_VARIABLE, _STATIONS],
        tags=("heatwatch", "zone"),
        links=[Link("Fleet overview", FLEET_URL)],
    )
