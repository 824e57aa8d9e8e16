"""``heatwatch rules backtest --plot out.png``: the series behind a backtest, alerts shaded.

A table says *that* a rule would have fired; the plot says *why*, and whether the threshold
sits where an engineer would put it. Per station it draws what the station rules judged:

1. secondary supply and return with ``supply_below_curve``'s reference, the way the rule picks
   it (:func:`alerts.rules.regime.supply_reference`): the station's own ``supply_setpoint``
   where it reports one, else its ``calibrated_curve``, else the zone/default ``curve`` at the
   outdoor temperature (both curves lowered by the night setback), each drawn as its own
   labelled line, and the firing threshold (reference - ``tolerance_k``) dotted. Planned-off
   windows (``heating.off_windows``) are shaded grey: the rule keeps quiet there;
2. primary supply and return with the heat power on a second axis, when the station reports
   them;
3. the pressures with the floor, and the make-up share of the circulating flow with its limit,
   each only when the station has those series in the period.

Real SCADA exports carry setpoint, primary temperatures and heat power but no pressures or
flows, so the panels follow the data: no empty boxes. For a zone it draws the minimum and
median indoor temperature. Alert spans (fired to resolved) are shaded by severity on every
panel of their station or zone; the hold time before firing (pending) is hatched.

The series are read as time-bucket means (``GROUP BY time``, at most ~1500 points per series)
rather than recorded during the replay, so plotting a month costs a few small queries and no
memory in the backtest itself. A bucket's reference is computed from its mean setpoint or
mean outdoor temperature, so on a season-long plot (buckets of hours) it is the rule's
reference smoothed as much as the supply line beside it. The zone panel's min/median are over
every flat sample in a bucket of at least 10 minutes (flats report every few minutes), close
to the zone aggregate ``zone_cold`` judged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.backtest import BacktestAlert, BacktestResult
from alerts.config import HeatingSchedule, RulesConfig, RuleSet
from alerts.history import HistorySource, Series
from alerts.model import Severity
from alerts.rules import RULES
from alerts.rules.leak import MAKEUP_SURGE, PRESSURE_DROP
from alerts.rules.plausible import plausible
from alerts.rules.spec import PlotPanel
from alerts.rules.temperature import SUPPLY_BELOW_CURVE, ZONE_COLD
from alerts.schedule import curve_setpoint, heating_on, in_setback, local_time
from heatwatch.registry import Registry

__all__ = ["DRAWN", "StationPlot", "backtest_figure", "break_gaps", "declared_panels",
           "plot_backtest", "reference_lines"]

COLORS = {Severity.CRITICAL: "tab:red", Severity.WARNING: "tab:orange", Severity.INFO: "tab:blue"}
MAX_POINTS = 1500
# Which reference the rule used -> legend text (the rule's own names: setpoint, calibrated, curve).
REFERENCE_LABELS = {"setpoint": "controller setpoint", "calibrated": "calibrated curve",
                    "curve": "default curve"}
OFF_SPANS_MAX = 400  # more planned-off nights than this in one plot would be a grey wash
GAP_S = 7200.0  # no data for longer than this (or 3 buckets) breaks the lines: an outage
MIN_SPAN = 0.002  # of the period: the narrowest alert shading (about 2 px on a 13-inch plot)
LABEL_CHAR = 0.0047  # of the period: the width of one character of a 7-pt label on the plot


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
             "setpoint": f.supply_setpoint, "psupply": f.primary_supply_temp,
             "preturn": f.primary_return_temp, "power": f.heat_power,
             "pressure": f.static_pressure, "supply_pressure": "supply_pressure",
             "makeup": f.makeup_flow, "flow": f.flow}
    select = ", ".join(f'mean("{field}") AS "{alias}"' for alias, field in names.items())
    bucket = _bucket(result, 10)
    q = (f'SELECT {select} FROM "telemetry" WHERE "station" = $station AND time >= '
         f"{round(result.start * 1e9)} AND time < {round(result.end * 1e9)} "
         f"GROUP BY time({bucket}s) fill(none)")
    cols = _columns(source.query(q, {"station": station}))
    for alias in names:  # a field the station never reported may be absent from the answer
        cols.setdefault(alias, [None] * len(cols.get("time", [])))
    return break_gaps(cols, max(3 * bucket, GAP_S))


def break_gaps(cols: dict[str, list[Any]], gap_s: float) -> dict[str, list[Any]]:
    """Insert an empty row after each bucket followed by more than ``gap_s`` without data, so
    lines break at outages instead of drawing a straight line across them (``fill(null)``
    would break them between every two buckets of a station reporting less often than the
    bucket)."""
    times = cols.get("time", [])
    gaps = [i for i in range(1, len(times))
            if (times[i] - times[i - 1]).total_seconds() > gap_s]
    for i in reversed(gaps):
        for name, values in cols.items():
            values.insert(i, times[i - 1] + dt.timedelta(seconds=1) if name == "time" else None)
    return cols


def _zone_series(source: HistorySource, rules: RulesConfig, zone: str,
                 result: BacktestResult) -> dict[str, list[Any]]:
    field = rules.fields.indoor_temp
    q = (f'SELECT min("{field}") AS "min", median("{field}") AS "median" FROM "meter" WHERE '
         f'"zone" = $zone AND time >= {round(result.start * 1e9)} AND time < '
         f"{round(result.end * 1e9)} GROUP BY time({_bucket(result, 600)}s) fill(none)")
    return _columns(source.query(q, {"zone": zone}))


def reference_lines(times: list[dt.datetime], setpoints: list[Any], outdoors: list[Any],
                    rs: RuleSet, names: Any) -> dict[str, list[float]]:
    """``supply_below_curve``'s reference per bucket, split by which reference the rule used
    (``setpoint``, ``calibrated``, ``curve``), NaN where another one applied or the rule does
    not judge (outside the heating season, no setpoint and no outdoor temperature).

    Same order as :func:`alerts.rules.regime.supply_reference`: a plausible setpoint as it is
    (the controller's night reduction is already in it), else the calibrated or default curve
    at the outdoor temperature minus ``setback_k`` inside the setback.
    """
    p = SUPPLY_BELOW_CURVE.params(rs)
    curve, kind = ((p.calibrated_curve, "calibrated") if p.calibrated_curve is not None
                   else (p.curve, "curve"))
    out = {k: [math.nan] * len(times) for k in ("setpoint", kind)}
    for i, (t, sp, outdoor) in enumerate(zip(times, setpoints, outdoors, strict=True)):
        now = t.timestamp()
        if not heating_on(now, rs.heating):
            continue
        if sp is not None and plausible(names.supply_temp, float(sp), rs):
            out["setpoint"][i] = float(sp)
        elif outdoor is not None:
            value = curve_setpoint(float(outdoor), curve)
            if in_setback(now, rs.heating):
                value -= rs.heating.setback_k
            out[kind][i] = value
    return {k: v for k, v in out.items() if any(not math.isnan(x) for x in v)}


def _off_spans(result: BacktestResult, h: HeatingSchedule) -> list[tuple[dt.datetime,
                                                                          dt.datetime]]:
    """The planned-off windows inside the period, as UTC spans (local wall-clock windows, so
    each day is built in the schedule's zone: DST moves them in UTC, not on the clock)."""
    if not h.off_windows:
        return []
    first = local_time(result.start, h).date() - dt.timedelta(days=1)
    last = local_time(result.end, h).date()
    tz = local_time(result.start, h).tzinfo
    lo = dt.datetime.fromtimestamp(result.start, tz=dt.UTC)
    hi = dt.datetime.fromtimestamp(result.end, tz=dt.UTC)
    spans = []
    day = first
    while day <= last:
        for w in h.off_windows:
            a = dt.datetime.combine(day, w.start, tzinfo=tz)
            b = dt.datetime.combine(day + dt.timedelta(days=1 if w.end <= w.start else 0),
                                    w.end, tzinfo=tz)
            a, b = max(a.astimezone(dt.UTC), lo), min(b.astimezone(dt.UTC), hi)
            if a < b:
                spans.append((a, b))
        day += dt.timedelta(days=1)
    return spans


def _nan(values: list[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _has(cols: dict[str, list[Any]], *aliases: str) -> bool:
    return any(v is not None for a in aliases for v in cols.get(a, []))


# The panels below the temperatures, in drawing order, and the series each needs to be drawn.
_SERIES: dict[PlotPanel, tuple[str, ...]] = {
    PlotPanel.PRIMARY: ("psupply", "preturn", "power"),
    PlotPanel.PRESSURE: ("pressure", "supply_pressure"),
    PlotPanel.MAKEUP: ("makeup",),
    PlotPanel.FLOW: ("flow",),
}


# Every panel this plot can draw: the station's, and the zone's indoor temperatures.
DRAWN = frozenset({PlotPanel.TEMPERATURES, *_SERIES, PlotPanel.INDOOR})


def declared_panels(rs: RuleSet) -> dict[str, PlotPanel]:
    """Rule -> the panel its declaration names (``RuleSpec.plot``), for the rules enabled in
    ``rs``."""
    return {spec.name: spec.plot for spec in RULES
            if spec.plot is not None and spec.params(rs).enabled}


@dataclass(slots=True)
class StationPlot:
    """What one station's panels are built from: its bucketed series, its effective rules,
    and its panels: the temperatures, then each panel an enabled rule declares
    (``RuleSpec.plot``) that has data in the period."""

    station: str
    cols: dict[str, list[Any]]
    rules: RuleSet
    panels: list[PlotPanel]
    declared: dict[str, PlotPanel]  # rule -> its panel (enabled rules that declare one)

    @classmethod
    def read(cls, source: HistorySource, rules: RulesConfig, registry: Registry, station: str,
             result: BacktestResult) -> StationPlot:
        cols = _station_series(source, rules, station, result)
        rs = rules.params_for(registry.zone_of(station), station)
        declared = declared_panels(rs)
        wanted = set(declared.values())
        share = any(m is not None and bool(q) for m, q in
                    zip(cols.get("makeup", []), cols.get("flow", []), strict=True))
        panels = [PlotPanel.TEMPERATURES] + [
            panel for panel, series in _SERIES.items()
            if panel in wanted and _has(cols, *series)
            and (panel is not PlotPanel.MAKEUP or share)]
        return cls(station, cols, rs, panels, declared)


def _legend(ax: Any, *more: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        h, lab = other.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    if handles:  # above the panel, right of its title: never over the data
        ax.legend(handles, labels, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  ncol=len(handles), frameon=False, borderaxespad=0.1)


def _draw_temperatures(ax: Any, sp: StationPlot, result: BacktestResult,
                       names: Any) -> None:
    cols = sp.cols
    ax.plot(cols["time"], _nan(cols["supply"]), label="supply", lw=0.8, color="tab:red")
    ax.plot(cols["time"], _nan(cols["ret"]), label="return", lw=0.8, color="tab:blue")
    refs = reference_lines(cols["time"], cols["setpoint"], cols["outdoor"], sp.rules, names)
    tol = SUPPLY_BELOW_CURVE.params(sp.rules).tolerance_k
    styles = {"setpoint": "-", "calibrated": "--", "curve": "--"}
    for kind, values in refs.items():
        ax.plot(cols["time"], values, color="black", ls=styles[kind], lw=0.8,
                label=f"reference: {REFERENCE_LABELS[kind]}")
    if refs:
        floor = [min((v[i] for v in refs.values() if not math.isnan(v[i])),
                     default=math.nan) - tol for i in range(len(cols["time"]))]
        ax.plot(cols["time"], floor, color="black", ls=":", lw=0.8,
                label=f"reference - {tol:g} K (fires below)")
    spans = _off_spans(result, sp.rules.heating)
    if len(spans) <= OFF_SPANS_MAX:
        for k, (a, b) in enumerate(spans):
            ax.axvspan(a, b, color="0.5", alpha=0.12, lw=0,
                       label="planned off" if k == 0 else None)
    ax.set_ylabel("°C")


def _draw_primary(ax: Any, sp: StationPlot) -> Any:
    cols = sp.cols
    ax.plot(cols["time"], _nan(cols["psupply"]), label="primary supply", lw=0.8,
            color="tab:purple")
    ax.plot(cols["time"], _nan(cols["preturn"]), label="primary return", lw=0.8,
            color="tab:cyan")
    ax.set_ylabel("°C")
    if not _has(cols, "power"):
        return None
    power = ax.twinx()
    power.plot(cols["time"], _nan(cols["power"]), label="heat power", lw=0.5,
               color="tab:green", alpha=0.5)
    power.set_ylabel("kW")
    power.set_ylim(bottom=0)
    return power


def _draw_pressure(ax: Any, sp: StationPlot) -> None:
    cols = sp.cols
    ax.plot(cols["time"], _nan(cols["pressure"]), label="return (static)", lw=1)
    ax.plot(cols["time"], _nan(cols["supply_pressure"]), label="supply", lw=1)
    ax.axhline(PRESSURE_DROP.params(sp.rules).floor_bar, color="tab:red", lw=0.6, ls=":",
               label="floor")
    ax.set_ylabel("bar")


def _draw_makeup(ax: Any, sp: StationPlot) -> None:
    cols = sp.cols
    share = [math.nan if m is None or not q else 100 * m / q
             for m, q in zip(cols["makeup"], cols["flow"], strict=True)]
    ax.plot(cols["time"], share, label="make-up / flow", lw=1)
    ax.axhline(MAKEUP_SURGE.params(sp.rules).ratio * 100, color="tab:red", lw=0.6, ls=":",
               label="limit")
    ax.set_ylabel("%")


def _draw_flow(ax: Any, sp: StationPlot) -> None:
    ax.plot(sp.cols["time"], _nan(sp.cols["flow"]), label="circulating flow", lw=1)
    ax.set_ylabel("m³/h")
    ax.set_ylim(bottom=0)


_DRAW: dict[PlotPanel, Callable[[Any, StationPlot], Any]] = {
    PlotPanel.PRIMARY: _draw_primary, PlotPanel.PRESSURE: _draw_pressure,
    PlotPanel.MAKEUP: _draw_makeup, PlotPanel.FLOW: _draw_flow,
}


def _shade(ax: Any, alerts: list[BacktestAlert], result: BacktestResult,
           label: set[str]) -> None:
    """Alert spans by severity, hold times hatched. A span is at least ``MIN_SPAN`` of the
    period wide, so an hour-long alert still shows on a season plot. Labels go on the first of
    three rows with room for them; a label with no room, or of a rule labelled just before,
    is left out (the shading still shows the alert)."""
    period = result.end - result.start
    if any(a.rule in label for a in alerts):  # head room for the labels, above the data
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.2 * (hi - lo))
    labelled: dict[str, float] = {}
    row_free = [-math.inf] * 3  # per label row: where its last label ends (timestamp)
    for a in sorted(alerts, key=lambda a: a.start):
        start = dt.datetime.fromtimestamp(a.start, tz=dt.UTC)
        until = a.end if a.end is not None else result.end
        end = dt.datetime.fromtimestamp(max(until, a.start + MIN_SPAN * period), tz=dt.UTC)
        if a.pending_at < a.start:  # the hold time (``for``): hatched, not yet firing
            ax.axvspan(dt.datetime.fromtimestamp(a.pending_at, tz=dt.UTC), start, fill=False,
                       hatch="//", edgecolor=COLORS[a.severity], alpha=0.25, lw=0)
        ax.axvspan(start, end, color=COLORS[a.severity], alpha=0.25, lw=0)
        if (a.rule not in label
                or a.start - labelled.get(a.rule, -math.inf) < 10 * MIN_SPAN * period):
            continue
        row = next((r for r, free in enumerate(row_free) if free <= a.start), None)
        if row is None:
            continue
        labelled[a.rule] = a.start
        row_free[row] = a.start + (LABEL_CHAR * len(a.rule) + 2 * MIN_SPAN) * period
        ax.annotate(a.rule, (start, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -10 - 9 * row), textcoords="offset points", fontsize=7,
                    color=COLORS[a.severity])


def _span(result: BacktestResult) -> str:
    a = dt.datetime.fromtimestamp(result.start, tz=dt.UTC)
    b = dt.datetime.fromtimestamp(result.end, tz=dt.UTC)
    fmt = "%Y-%m-%d %H:%M" if result.end - result.start < 4 * 86400 else "%Y-%m-%d"
    return f"{a:{fmt}} to {b:{fmt}} UTC"


def plot_backtest(
    result: BacktestResult, source: HistorySource, path: Path | str, *, rules: RulesConfig,
    registry: Registry, stations: list[str], zone: str | None = None,
) -> Path:
    """Write a PNG: a group of panels per station in ``stations`` (as many as it has series
    for), plus ``zone``'s indoor temperatures; returns the path. Raises HistoryUnavailable if
    the series cannot be read."""
    import matplotlib.pyplot as plt

    fig = backtest_figure(result, source, rules=rules, registry=registry, stations=stations,
                          zone=zone)
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def backtest_figure(
    result: BacktestResult, source: HistorySource, *, rules: RulesConfig, registry: Registry,
    stations: list[str], zone: str | None = None,
) -> Any:
    """The figure :func:`plot_backtest` saves (a matplotlib ``Figure``; the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    plots = [StationPlot.read(source, rules, registry, s, result) for s in stations]
    panels = sum(len(p.panels) for p in plots) + (1 if zone else 0)
    fig, axes = plt.subplots(max(panels, 1), 1, sharex=True, squeeze=False,
                             figsize=(13, 1.0 + 2.4 * max(panels, 1)))
    rows = iter(axes[:, 0])
    for sp in plots:
        mine = [a for a in result.alerts if a.station == sp.station]
        ax_t = next(rows)
        twins: list[Any] = []
        if sp.cols.get("time"):
            _draw_temperatures(ax_t, sp, result, rules.fields)
        ax_t.set_title(f"station {sp.station}, {_span(result)}: {len(mine)} alert(s)"
                       + ("" if sp.cols.get("time") else ", no readings"), fontsize=9,
                       loc="left")
        drawn = [(ax_t, PlotPanel.TEMPERATURES)]
        for panel in sp.panels[1:]:
            ax = next(rows)
            twins.append((ax, _DRAW[panel](ax, sp)))
            drawn.append((ax, panel))
        # each alert is labelled on the panel its rule declares (the first one if that is
        # not drawn or it declares none) and shaded on all of them
        on = {panel for _ax, panel in drawn}
        home = {a.rule: sp.declared.get(a.rule) for a in mine}
        for ax, panel in drawn:
            _shade(ax, mine, result, {
                rule for rule, p in home.items()
                if p is panel or (panel is PlotPanel.TEMPERATURES and p not in on)})
            more = [t for a, t in twins if a is ax and t is not None]
            _legend(ax, *more)
    if zone:
        ax = next(rows)
        cols = _zone_series(source, rules, zone, result)
        if cols:
            ax.plot(cols["time"], _nan(cols["min"]), label="min indoor", lw=1)
            ax.plot(cols["time"], _nan(cols["median"]), label="median indoor", lw=1)
            ax.axhline(ZONE_COLD.params(rules.params_for(zone)).standard_c, color="tab:red", lw=0.6,
                       ls=":", label="standard")
            ax.legend(fontsize=7, loc="lower left")
        ax.set_ylabel("°C")
        ax.set_title(f"zone {zone}", fontsize=9, loc="left")
        zone_alerts = [a for a in result.alerts if a.station is None and a.zone == zone]
        _shade(ax, zone_alerts, result, {a.rule for a in zone_alerts})
    last = axes[-1, 0]
    last.set_xlim(dt.datetime.fromtimestamp(result.start, tz=dt.UTC),
                  dt.datetime.fromtimestamp(result.end, tz=dt.UTC))
    locator = mdates.AutoDateLocator(tz=dt.UTC)  # type: ignore[no-untyped-call]
    last.xaxis.set_major_locator(locator)
    last.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator, tz=dt.UTC))  # type: ignore[no-untyped-call]
    last.set_xlabel("UTC")
    who = ", ".join(stations) + (f"{' + ' if stations else ''}zone {zone}" if zone else "")
    shown = sum(1 for a in result.alerts if a.station in stations
                or (zone is not None and a.station is None and a.zone == zone))
    others = len(result.alerts) - shown
    fig.suptitle(f"backtest {who}: {_span(result)}, {shown} alert(s)"
                 + (f" ({others} more elsewhere in the backtest)" if others else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig
