"""``heatwatch rules calibrate``: stored history in, a station-override rules file and a
before/after alert table out.

Kept apart from :mod:`alerts.rules_cli` (like ``backtest``) so ``rules list`` / ``check`` never
import scipy. Exit codes: 0 at least one station calibrated, 1 none could be (or InfluxDB
could not answer), 2 bad arguments or files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.backtest import backtest
from alerts.calibrate import Calibration, CalibrationOptions, TooLittleData, calibrate_station
from alerts.calibrate_file import merged_rules, override, render, validate
from alerts.calibrate_history import CalibrationFields, daily_counts, read_station, stations
from alerts.config import RulesConfig, load_rules
from alerts.history import HistorySource, HistoryUnavailable
from alerts.settings import load_alerts_settings
from heatwatch.registry import UNASSIGNED_ZONE, Registry, load_registry

__all__ = ["FleetCalibration", "calibrate_fleet", "run_calibrate"]


@dataclass(frozen=True, slots=True)
class _Window:
    label: str
    start: float
    end: float


def run_calibrate(args: argparse.Namespace) -> int:
    """Raises :class:`heatwatch.settings.ConfigError` for bad files (``rules_cli`` reports)."""
    if args.end <= args.start:
        return _usage("--to must be after --from")
    if (not 0 < args.off_share <= 1 or not 0 <= args.resume_share < args.off_share
            or args.min_hours < 1 or args.min_nights < 1):
        return _usage("--off-share must be in (0, 1], --resume-share in [0, --off-share); "
                      "--min-hours and --min-nights >= 1")
    if args.timezone is not None:
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return _usage(f"unknown --timezone {args.timezone!r}")
    settings = load_alerts_settings(args.config)
    rules = load_rules(args.rules or settings.rules)
    registry = load_registry(args.registry or settings.registry)
    source = HistorySource(settings.influx.overridden(args.influx_url, args.database))
    try:
        return _run(args, rules, registry, source,
                    args.step if args.step is not None else settings.evaluate_interval_s)
    except HistoryUnavailable as exc:
        print(f"heatwatch rules calibrate: InfluxDB: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()


def _usage(message: str) -> int:
    print(f"heatwatch rules calibrate: {message}", file=sys.stderr)
    return 2


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


@dataclass(slots=True)
class FleetCalibration:
    """What :func:`calibrate_fleet` learned: per station its calibration and override block
    (station order), and the stations refused with the reason."""

    calibrations: list[Calibration] = field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def text(self, header: Sequence[str]) -> str:
        """The validated stations file (:class:`ConfigError` if it would not load)."""
        out = render(self.calibrations, self.overrides, header, self.refused)
        validate(out)
        return out

    def rules(self, base: RulesConfig) -> RulesConfig:
        """``base`` with the calibrated station blocks layered on."""
        return merged_rules(base, self.overrides)


def calibrate_fleet(
    source: HistorySource, rules: RulesConfig, start: float, end: float, *,
    registry: Registry | None = None, station: str | None = None, timezone: str | None = None,
    options: Mapping[str, Any] | None = None, say: Callable[[str], None] | None = None,
) -> FleetCalibration:
    """Calibrate every stored station (or ``station``) on ``[start, end)``; the Python API of
    ``heatwatch rules calibrate`` (the real-data benchmark calls it). ``options`` are
    :class:`CalibrationOptions` fields other than ``schedule`` (which comes from the rules of
    each station, with ``timezone`` over it). Raises :class:`HistoryUnavailable`."""
    reg = registry or Registry()
    fields = CalibrationFields(rules.fields)
    out = FleetCalibration()
    for name, stored_zone in sorted(stations(source, station).items()):
        zone = reg.zone_of(name) if reg.get(name) else (stored_zone or UNASSIGNED_ZONE)
        base = rules.params_for(zone, name)
        tz = timezone or base.heating.timezone
        opts = CalibrationOptions(schedule=base.heating.model_copy(update={"timezone": tz}),
                                  **dict(options or {}))
        if say is not None:
            say(f"{name}: reading history ...")
        history = read_station(source, name, start, end, fields)
        try:
            cal = calibrate_station(history, start, end, opts)
        except TooLittleData as exc:
            out.refused[name] = str(exc)
            continue
        out.calibrations.append(cal)
        info = reg.get(name)
        out.overrides[name] = override(cal, base, tz,
                                       info.report_interval_s if info else 10.0)
    return out


def _run(args: argparse.Namespace, rules: RulesConfig, registry: Registry,
         source: HistorySource, step_s: float) -> int:
    start, end = args.start.timestamp(), args.end.timestamp()
    fields = CalibrationFields(rules.fields)
    if not stations(source, args.station):
        print(f"heatwatch rules calibrate: no stored telemetry for "
              f"{args.station or 'any station'}", file=sys.stderr)
        return 1
    fleet = calibrate_fleet(
        source, rules, start, end, registry=registry, station=args.station,
        timezone=args.timezone, say=None if args.quiet else lambda m: _say(args, m),
        options={"min_curve_hours": args.min_hours, "min_nights": args.min_nights,
                 "off_share": args.off_share, "resume_share": args.resume_share,
                 "max_points": args.points})
    for name, why in sorted(fleet.refused.items()):
        print(f"{name}: not calibrated: {why}", file=sys.stderr)
    for cal in fleet.calibrations:
        _say(args, f"{cal.station}: curve {_points(cal)}, RMSE {cal.curve.rmse:.2f} K, "
             f"{cal.curve.samples} readings; off {_offs(cal)}; setback {_setback(cal)}")
    if not fleet.calibrations:
        print("heatwatch rules calibrate: no station could be calibrated", file=sys.stderr)
        return 1
    text = fleet.text([
        f"heatwatch rules calibrate --from {args.start.isoformat()} --to "
        f"{args.end.isoformat()}" + (f" --station {args.station}" if args.station else ""),
        "Learned station overrides: review, then add the stations block to the rules file.",
        "",
    ])
    table_out = sys.stdout
    if args.output is None:
        sys.stdout.write(text)
        table_out = sys.stderr
    else:
        args.output.write_text(text, encoding="utf-8")
        _say(args, f"written to {args.output}")
    if not args.no_check:
        names = [c.station for c in fleet.calibrations]
        windows = [_Window("calibration", start, end)]
        check = _check_window(args, source, names, fields, start, end)
        if check is not None:
            windows.append(check)
        print(_table(args, rules, fleet.rules(rules), registry, source, names, windows,
                     fields, step_s), file=table_out)
    return 0


def _points(cal: Calibration) -> str:
    return " ".join(f"({x:g}, {y:g})" for x, y in cal.curve.points)


def _offs(cal: Calibration) -> str:
    return ", ".join(w.text() for w in cal.off_windows) or "none"


def _setback(cal: Calibration) -> str:
    s = cal.setback
    return "none" if s is None else f"{s.k:g} K {s.window.text()}"


def _check_window(args: argparse.Namespace, source: HistorySource, names: Sequence[str],
                  fields: CalibrationFields, start: float, end: float) -> _Window | None:
    """The later window: given, or as long as the calibration after it, cut at the data."""
    c0 = args.check_from.timestamp() if args.check_from is not None else end
    if args.check_to is not None:
        c1 = args.check_to.timestamp()
    else:
        c1 = c0 + (end - start)
        newest = _newest(source, names, fields)
        if newest is None or newest <= c0:
            return None
        c1 = min(c1, newest + 1)
    return _Window("check", c0, c1) if c1 > c0 else None


def _newest(source: HistorySource, names: Sequence[str], fields: CalibrationFields) -> float | None:
    newest: float | None = None
    for station in names:
        q = (f'SELECT last("{fields.supply}") FROM "telemetry" WHERE "station" = $station')
        for s in source.query(q, {"station": station}):
            for row in s.values:
                t = float(row[0]) / 1e9
                newest = t if newest is None else max(newest, t)
    return newest


def _table(args: argparse.Namespace, before: RulesConfig, after: RulesConfig,
           registry: Registry, source: HistorySource, names: Sequence[str],
           windows: Sequence[_Window], fields: CalibrationFields, step_s: float) -> str:
    """Alerts per station-day by station and rule, default vs calibrated, per window."""
    counts: dict[tuple[str, str], Counter[tuple[str, str]]] = {}
    days: dict[tuple[str, str], int] = {}
    for w in windows:
        for station in names:
            days[(w.label, station)] = daily_counts(source, station, w.start, w.end,
                                                    fields.supply)
            for label, rules in (("default", before), ("calibrated", after)):
                _say(args, f"{station}: backtest {w.label} window, {label} rules ...")
                result = backtest(rules, source, w.start, w.end, station=station,
                                  registry=registry, step_s=step_s)
                counts[(w.label, label)] = counts.get((w.label, label), Counter()) + Counter(
                    (station, a.rule) for a in result.alerts)
    return _format(windows, names, counts, days)


def _format(windows: Sequence[_Window], names: Sequence[str],
            counts: Mapping[tuple[str, str], Counter[tuple[str, str]]],
            days: Mapping[tuple[str, str], int]) -> str:
    rules = sorted({rule for c in counts.values() for (_, rule) in c})
    rows: list[tuple[str, str]] = [(s, r) for s in names for r in rules
                                   if any(c[(s, r)] for c in counts.values())]
    rows += [(s, "(all)") for s in names] + [("all", "(all)")]
    head = ["station", "rule"]
    for w in windows:
        head += [f"{w.label} default", f"{w.label} calibrated"]

    def rate(w: _Window, label: str, station: str, rule: str) -> str:
        c = counts.get((w.label, label), Counter())
        sts = list(names) if station == "all" else [station]
        n = sum(v for (s, r), v in c.items() if s in sts and rule in (r, "(all)"))
        d = sum(days.get((w.label, s), 0) for s in sts)
        return f"{n / d:.3f} ({n})" if d else f"- ({n})"

    body = [[s, r] + [rate(w, label, s, r) for w in windows
                      for label in ("default", "calibrated")] for s, r in rows]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)) for row in (head, *body)]
    lines.insert(1, "-" * len(lines[0]))
    spans = "; ".join(
        f"{w.label} {_utc(w.start)} to {_utc(w.end)}: "
        f"{sum(days.get((w.label, s), 0) for s in names)} station-days" for w in windows)
    lines.insert(0, "alerts per station-day (count) by rule, default vs calibrated rules")
    lines.append(spans)
    return "\n".join(lines)


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
