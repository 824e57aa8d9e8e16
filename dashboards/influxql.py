"""InfluxQL fragments shared by the dashboards, written for InfluxDB 1.6 (Debian's) upwards.

InfluxQL has no CASE, no comparison operators in SELECT and no scalar min/max, yet the
dashboards need "share of flats under 18 °C" and a clamped weather curve. Both are built from
``floor`` and ``abs``, which 1.6 has (and which also work on aggregates):

* below(x, t) = -floor((x - t) / span) is 1 when x < t and 0 when x >= t, as long as
  |x - t| < span. Indoor temperatures are bounded by the wire format (-30..60 °C), so a span of
  100 is safe; the mean of it over readings is the share under the threshold.
* clamp(x, lo, hi) = (abs(x - lo) - abs(x - hi) + lo + hi) / 2 (check the three cases).

These are tested against the real InfluxDB in tests/dashboards.
"""

from __future__ import annotations

from collections.abc import Sequence

from heatwatch.retention import HOURLY_POLICY
from heatwatch.wire import FIELDS, Kind

__all__ = [
    "CURVE",
    "HOURLY",
    "STATION",
    "TIME",
    "ZONE",
    "below_expr",
    "clamp_expr",
    "curve_expr",
    "rate",
]

TIME = "$timeFilter"
# The hourly retention policy heatwatch.retention fills (continuous queries on 1.x; on 2.x the
# DBRP mapping of the hourly bucket, deploy/influxdb/downsampling.sh).
HOURLY = f'"{HOURLY_POLICY}"'
ZONE = '"zone" =~ /^$zone$/'
STATION = '"station" =~ /^$station$/'
# Weather-compensation curve: 55 °C supply at -19 °C outside, 35 °C at +5 °C, flat beyond.
# The simulator and the alert rule supply_below_curve default to the same two points.
CURVE: tuple[tuple[float, float], tuple[float, float]] = ((-19.0, 55.0), (5.0, 35.0))

_INDOOR = FIELDS[Kind.METER]["indoor_temp"]
_SPAN = 100.0
if _INDOOR.hi - _INDOOR.lo >= 2 * _SPAN:  # pragma: no cover - a guard for future range edits
    raise AssertionError("indoor_temp range too wide for below_expr's floor trick")


def _num(value: float) -> str:
    return f"{value:g}"


def below_expr(expr: str, threshold: float) -> str:
    """1 when ``expr`` < threshold, else 0 (see the module docstring)."""
    return f"-floor(({expr} - {_num(threshold)}) / {_num(_SPAN)})"


def _plus(expr: str, value: float) -> str:
    """``expr + value`` written without a double sign (``x - -19`` reads badly)."""
    return f"{expr} - {_num(-value)}" if value < 0 else f"{expr} + {_num(value)}"


def clamp_expr(expr: str, lo: float, hi: float) -> str:
    return f"((abs({_plus(expr, -lo)}) - abs({_plus(expr, -hi)}){_plus('', lo + hi)}) / 2)"


def curve_expr(outdoor: str, curve: Sequence[tuple[float, float]] = CURVE) -> str:
    """Supply setpoint from an outdoor temperature expression, linear between the two points
    and clamped outside them (two points only: InfluxQL has no piecewise functions). The slope
    is written as a fraction so the line is exact."""
    if len(curve) != 2:
        raise ValueError("curve_expr supports a two-point curve")
    (x0, y0), (x1, y1) = curve
    dx, dy = x1 - x0, y1 - y0
    if dx <= 0:
        raise ValueError("curve points must have increasing outdoor temperatures")
    run = f"({_plus(clamp_expr(outdoor, x0, x1), -x0)})"
    sign = "-" if dy < 0 else "+"
    return f"{_num(y0)} {sign} {run} * {_num(abs(dy))} / {_num(dx)}"


def rate(field: str, by: str = "") -> str:
    """Per-second rate of a ``heatwatch_internal`` counter, restart-safe (non-negative)."""
    group = f', "{by}"' if by else ""
    return (
        f'SELECT non_negative_derivative(max("{field}"), 1s) FROM "heatwatch_internal" '
        f"WHERE \"instance\" =~ /^$instance$/ AND {TIME} "
        f'GROUP BY time($__interval), "instance"{group} fill(none)'
    )
