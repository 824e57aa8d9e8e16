"""Every InfluxQL statement the API runs, built from whitelists only.

Identifiers (field names, aggregate functions, the ``GROUP BY time()`` interval) cannot be bound
parameters in InfluxQL, so they come from tables in this module, never from the request: the
routes validate user input against these tables and pass *our* string on. Tag values and times
are always bound (``$station``, ``$start``) and never appear in the statement text.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from heatwatch.retention import AGGREGATES as _HOURLY_AGGREGATES
from heatwatch.wire import FIELDS, Kind
from heatwatch.wirefields import NUMBER

__all__ = [
    "AGGREGATES",
    "HISTORY_FIELDS",
    "HOURLY_COLUMNS",
    "LAST_STATUS",
    "LAST_TIMES",
    "LAST_VALUES",
    "MAX_POINTS",
    "ZONE_QUERY",
    "Distribution",
    "distribution",
    "history_query",
    "parse_resolution",
]

# Numeric telemetry fields (mean() of a boolean is an InfluxQL error), with their units.
HISTORY_FIELDS: dict[str, str] = {
    name: spec.unit
    for name, spec in FIELDS[Kind.TELEMETRY].items()
    if spec.check == NUMBER
}
AGGREGATES = ("mean", "min", "max", "last")
MAX_POINTS = 20_000
MAX_RANGE_S = 366 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# aggregate -> suffix of its column in the hourly policy ("supply_temp_max")
HOURLY_COLUMNS = dict(_HOURLY_AGGREGATES)
_POLICY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_RESOLUTION = re.compile(r"([1-9][0-9]{0,5})([smhd])")

# The fleet snapshot: three statements answer for the whole fleet. last(*) reports time 0 (it
# mixes fields of different points), so a second statement on a required field gives the true
# time of each station's last reading; status is the retained online/offline flag.
# The documented telemetry fields only, never last(*): extra fields are a gateway's to add, and
# one reading with thousands of them would otherwise grow every station list answer (issue #13).
SHOWN_FIELDS = tuple(name for name in FIELDS[Kind.TELEMETRY] if name not in ("ts", "seq"))
LAST_VALUES = (
    "SELECT " + ", ".join(f'last("{f}") AS "last_{f}"' for f in SHOWN_FIELDS)
    + ' FROM "telemetry" WHERE time > $since GROUP BY "station"'
)
LAST_TIMES = 'SELECT last("supply_temp") FROM "telemetry" WHERE time > $since GROUP BY "station"'
LAST_STATUS = 'SELECT last("state") FROM "station_status" WHERE time > $since GROUP BY "station"'

ZONE_QUERY = (
    'SELECT last("indoor_temp") FROM "meter" WHERE "zone" = $zone AND time > $since'
    ' GROUP BY "station", "meter"'
)


def parse_resolution(text: str) -> int:
    """``30s``, ``1m``, ``15m``, ``1h``, ``1d`` -> seconds; ValueError with the reason."""
    m = _RESOLUTION.fullmatch(text)
    if m is None:
        raise ValueError("resolution must be a number and a unit s, m, h or d, like 1m or 15m")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > 7 * 86400:
        raise ValueError("resolution must be at most 7d")
    return seconds


def history_query(field: str, agg: str, resolution_s: int, hourly_policy: str | None = None
                  ) -> str:
    """The downsampling statement; ``field`` and ``agg`` must come from the whitelists.

    With ``hourly_policy`` it reads the hourly aggregates the continuous queries keep
    (heatwatch.retention): ``agg`` of the matching hourly column (min of the hourly minima,
    max of the maxima, last of the lasts; mean of the hourly means, which weighs every hour
    alike), so long ranges still answer after the raw readings have expired.
    """
    if field not in HISTORY_FIELDS or agg not in AGGREGATES:
        raise ValueError("field and aggregate must be whitelisted")  # programming error
    source = '"telemetry"'
    if hourly_policy is not None:
        if not _POLICY.fullmatch(hourly_policy) or resolution_s % 3600:
            raise ValueError("hourly reads need a plain policy name and whole hours")
        field, source = f"{field}{HOURLY_COLUMNS[agg]}", f'"{hourly_policy}"."telemetry"'
    return (
        f'SELECT {agg}("{field}") FROM {source} WHERE "station" = $station'
        f" AND time >= $start AND time < $end GROUP BY time({int(resolution_s)}s) fill(none)"
    )


@dataclass(frozen=True, slots=True)
class Flat:
    station: str
    meter: str
    temp: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Distribution:
    flats: int
    below: int
    share_below: float | None
    min: float | None
    median: float | None
    max: float | None
    coldest: list[Flat]


def distribution(flats: list[Flat], below_c: float, coldest: int) -> Distribution:
    """Summary of the latest indoor temperature of each flat in a zone."""
    if not flats:
        return Distribution(0, 0, None, None, None, None, [])
    temps = [f.temp for f in flats]
    below = sum(1 for t in temps if t < below_c)
    ordered = sorted(flats, key=lambda f: (f.temp, f.station, f.meter))
    return Distribution(
        flats=len(flats),
        below=below,
        share_below=below / len(flats),
        min=ordered[0].temp,
        median=statistics.median(temps),
        max=ordered[-1].temp,
        coldest=ordered[:coldest],
    )
