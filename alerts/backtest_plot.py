"""``heatwatch rules backtest --plot out.png``: the series behind a backtest, alerts shaded.

A table says *that* a rule would have fired; the plot says *why*, and whether the threshold
sits where an engineer would put it: per station the secondary supply and return with the
weather-curve setpoint, the pressures, and the make-up share of the circulating flow; for a
zone the minimum and median indoor temperature. Alert spans (fired to resolved) are shaded
by severity on every panel of their station or zone; the hold time before firing
(pending) is hatched.

The series are read as time-bucket means (``GROUP BY time``, at most ~1500 points per series)
rather than recorded during the replay, so plotting a month costs a few small queries and no
memory in the backtest itself. The zone panel's min/median are over every flat sample in a
bucket of at least 10 minutes (flats report every few minutes), close to the zone aggregate
``zone_cold`` judged.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from alerts.backtest import BacktestAlert, BacktestResult
from alerts.config import RulesConfig
from alerts.history import HistorySource, Series
from alerts.model import Severity
from alerts.schedule import curve_setpoint, in_setback
from heatwatch.registry import Registry

__all__ = ["plot_backtest"]

COLORS = {Severity.CRITICAL: "tab:red", Severity.WARNING: "tab:orange", Severity.INFO: "tab:blue"}
MAX_POINTS = 1500


def _bucket(result: BacktestResult, floor: float) -> int:
    return max(int(floor), math.ceil((result.end - result.start) / MAX_POINTS))


def _columns(series: list[Series]) -> dict[str, list[Any]]:
    """Column name -> values of a one-series answer (times as datetimes)."""
    if not series:
        return {}
    s = series[0]
    cols: dict[str, list[Any]] = {c: [row[i] for row in s.values] for i, c in
                                  enumerate(s.columns)}
    cols["time"] = [dt.datetime.fromtimestamp(t / 1e9, tz=dt.UTC) for t in cols["time"]]
    return cols


def _station_series(source: HistorySource, rules: RulesConfig, station: str,
                    result: BacktestResult) -> dict[str, list[Any]]:
    f = rules.fields
    names = {"supply": f.supply_temp, "ret": f.return_temp, "outdoor": f.outdoor_temp,
             "pressure": f.static_pressure, "supply_pressure": "supply_pressure",
             "makeup": f.makeup_flow, "flow": f.flow}
    select = ", ".join(f'mean("{field}") AS "{alias}"' for alias, field in names.items())
    q = (f'SELECT {select} FROM "telemetry" WHERE "station" = $station AND time >= '
         f"{round(result.start * 1e9)} AND time < {round(result.end * 1e9)} "
         f"GROUP BY time({_bucket(result, 10)}s) fill(none)")
    return _columns(source.query(q, {"station": station}))


def _zone_series(source: HistorySource, rules: RulesConfig, zone: str,
                 result: BacktestResult) -> dict[str, list[Any]]:
    field = rules.fields.indoor_temp
    q = (f'SELECT min("{field}") AS "min", median("{field}") AS "median" FROM "meter" WHERE '
         f'"zone" = $zone AND time >= {round(result.start * 1e9)} AND time < '
         f"{round(result.end * 1e9)} GROUP BY time({_bucket(result, 600)}s) fill(none)")
    return _columns(source.query(q, {"zone": zone}))


def _shade(ax: Any, alerts: list[BacktestAlert], result: BacktestResult, label: bool) -> None:
    for a in alerts:
        start = dt.datetime.fromtimestamp(a.start, tz=dt.UTC)
        end = dt.datetime.fromtimestamp(a.end if a.end is not None else result.end, tz=dt.UTC)
        if a.pending_at < a.start:  # the hold time (``for``): hatched, not yet firing
            ax.axvspan(dt.datetime.fromtimestamp(a.pending_at, tz=dt.UTC), start, fill=False,
                       hatch="//", edgecolor=COLORS[a.severity], alpha=0.25, lw=0)
        ax.axvspan(start, end, color=COLORS[a.severity], alpha=0.18, lw=0)
        if label:
            ax.annotate(a.rule, (start, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -10), textcoords="offset points", fontsize=7,
                        color=COLORS[a.severity])


def _setpoints(cols: dict[str, list[Any]], rules: RulesConfig, zone: str,
               station: str) -> list[float]:
    rs = rules.params_for(zone, station)
    out = []
    for t, outdoor in zip(cols["time"], cols["outdoor"], strict=True):
        if outdoor is None:
            out.append(math.nan)
            continue
        sp = curve_setpoint(outdoor, rs.supply_below_curve.curve)
        if in_setback(t.timestamp(), rs.heating):
            sp -= rs.heating.setback_k
        out.append(sp)
    return out


def _nan(values: list[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def plot_backtest(
    result: BacktestResult, source: HistorySource, path: Path | str, *, rules: RulesConfig,
    registry: Registry, stations: list[str], zone: str | None = None,
) -> Path:
    """Write a PNG: one row of panels per station in ``stations``, plus ``zone``'s indoor
    temperatures; returns the path. Raises HistoryUnavailable if the series cannot be read."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = len(stations) * 3 + (1 if zone else 0)
    fig, axes = plt.subplots(max(panels, 1), 1, sharex=True, squeeze=False,
                             figsize=(12, 1.0 + 2.1 * max(panels, 1)))
    rows = iter(axes[:, 0])
    for station in stations:
        cols = _station_series(source, rules, station, result)
        mine = [a for a in result.alerts if a.station == station]
        ax_t, ax_p, ax_m = next(rows), next(rows), next(rows)
        if cols:
            z = registry.zone_of(station)
            ax_t.plot(cols["time"], _nan(cols["supply"]), label="supply", lw=1)
            ax_t.plot(cols["time"], _nan(cols["ret"]), label="return", lw=1)
            ax_t.plot(cols["time"], _setpoints(cols, rules, z, station), "k--",
                      label="curve setpoint", lw=0.8)
            ax_p.plot(cols["time"], _nan(cols["pressure"]), label="return (static)", lw=1)
            ax_p.plot(cols["time"], _nan(cols["supply_pressure"]), label="supply", lw=1)
            p = rules.params_for(z, station).pressure_drop
            ax_p.axhline(p.floor_bar, color="tab:red", lw=0.6, ls=":", label="floor")
            share = [math.nan if m is None or not q else 100 * m / q
                     for m, q in zip(cols["makeup"], cols["flow"], strict=True)]
            ax_m.plot(cols["time"], share, label="make-up / flow", lw=1)
            limit = rules.params_for(z, station).makeup_surge.ratio * 100
            ax_m.axhline(limit, color="tab:red", lw=0.6, ls=":", label="limit")
        ax_t.set_ylabel("°C")
        ax_p.set_ylabel("bar")
        ax_m.set_ylabel("%")
        ax_t.set_title(f"station {station}", fontsize=9, loc="left")
        for ax, label in ((ax_t, True), (ax_p, False), (ax_m, False)):
            _shade(ax, mine, result, label)
            if ax.lines:
                ax.legend(fontsize=7, loc="lower left")
    if zone:
        ax = next(rows)
        cols = _zone_series(source, rules, zone, result)
        if cols:
            ax.plot(cols["time"], _nan(cols["min"]), label="min indoor", lw=1)
            ax.plot(cols["time"], _nan(cols["median"]), label="median indoor", lw=1)
            ax.axhline(rules.params_for(zone).zone_cold.standard_c, color="tab:red", lw=0.6,
                       ls=":", label="standard")
            ax.legend(fontsize=7, loc="lower left")
        ax.set_ylabel("°C")
        ax.set_title(f"zone {zone}", fontsize=9, loc="left")
        _shade(ax, [a for a in result.alerts if a.station is None and a.zone == zone],
               result, True)
    last = axes[-1, 0]
    last.set_xlim(dt.datetime.fromtimestamp(result.start, tz=dt.UTC),
                  dt.datetime.fromtimestamp(result.end, tz=dt.UTC))
    formatter = mdates.DateFormatter("%m-%d %H:%M", tz=dt.UTC)  # type: ignore[no-untyped-call]
    last.xaxis.set_major_formatter(formatter)
    last.set_xlabel("UTC")
    fig.suptitle(f"backtest: {len(result.alerts)} alert(s)", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
