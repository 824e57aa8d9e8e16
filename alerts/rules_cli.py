"""``heatwatch rules``: inspect the alert rules without running the engine.

``list`` prints every shipped rule with its family, scope and default severity; ``check``
validates a rules file exactly as the engine would at start-up (exit code 2 if invalid) and
prints the effective parameters for a zone and/or station, which is how an operator verifies
that an override landed where intended. ``backtest`` replays stored history from InfluxDB
through the rules (``alerts/backtest/replay.py``), prints the alerts they would have raised and can
plot the series with the alert spans, so thresholds are tuned before they page anyone.
``calibrate`` learns each station's curve, night regime and normal ranges from its stored
history (``alerts/calibrate.py``) and writes them as station overrides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import yaml

from alerts.config import RulesConfig, RuleSet, load_rules
from alerts.rules import BY_NAME, FAMILIES
from heatwatch.registry import UNASSIGNED_ZONE, load_registry
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]



def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="list the shipped rules")
    check = sub.add_parser("check", help="validate a rules file and show effective parameters")
    check.add_argument("file", type=Path, nargs="?", default=None,
                       help="rules YAML (reference: alerts/rules.sample.yaml); none = defaults")
    check.add_argument("--zone", default=None, help="show parameters for this zone")
    check.add_argument("--station", default=None, help="show parameters for this station")
    check.add_argument("--registry", type=Path, default=None,
                       help="station registry, to find the station's zone")
    check.add_argument("--rule", default=None, help="only this rule's parameters")
    _backtest_arguments(sub.add_parser(
        "backtest", help="run the rules over stored history and print the alerts",
        description="Replay readings stored in InfluxDB through the rules (event time, a "
        "throw-away state store, nothing notified) and print the alerts they would have raised.",
    ))
    _calibrate_arguments(sub.add_parser(
        "calibrate", help="learn each station's curve and night regime from stored history",
        description="Learn each station's weather curve, off and setback windows, warm-up, "
        "normal ranges and reporting interval from history stored in InfluxDB; write them as "
        "a reviewable stations: rules block and print alerts per station-day before and after.",
    ))


def _backtest_arguments(bt: argparse.ArgumentParser) -> None:
    bt.add_argument("--from", dest="start", required=True, type=_time,
                    help="start, ISO 8601 (e.g. 2026-01-15T12:00:00Z; no offset = UTC)")
    bt.add_argument("--to", dest="end", required=True, type=_time, help="end (exclusive)")
    where = bt.add_mutually_exclusive_group()
    where.add_argument("--zone", default=None, help="only this zone's stations and flats")
    where.add_argument("--station", default=None, help="only this station (no zone_cold)")
    bt.add_argument("-c", "--config", type=Path, default=None, metavar="PATH",
                    help="alerts service YAML: its influx block, rules, registry and "
                    "evaluate_interval_s (HEATWATCH_* variables apply)")
    bt.add_argument("--rules", type=Path, default=None, help="rules YAML (default: config's)")
    bt.add_argument("--registry", type=Path, default=None, help="station registry YAML")
    bt.add_argument("--influx-url", default=None, help="InfluxDB URL (default: config's)")
    bt.add_argument("--database", default=None, help="InfluxDB database (default: config's)")
    bt.add_argument("--rule", default=None, help="only report this rule's alerts")
    bt.add_argument("--step", type=float, default=None, metavar="S",
                    help="evaluation interval in event time (default: evaluate_interval_s)")
    bt.add_argument("--chunk", type=float, default=7 * 86400.0, metavar="S",
                    help="longest span of history per InfluxDB query (default 604800: a "
                         "week; shorter when that holds too many readings)")
    bt.add_argument("--plot", type=Path, default=None, metavar="PNG",
                    help="also plot the main series with the alert spans shaded")
    bt.add_argument("--plot-stations", type=int, default=3, metavar="N",
                    help="stations in the plot without --station: those alerting longest")
    bt.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _calibrate_arguments(cal: argparse.ArgumentParser) -> None:
    cal.add_argument("--from", dest="start", required=True, type=_time,
                     help="start of the history to learn from, ISO 8601 (no offset = UTC)")
    cal.add_argument("--to", dest="end", required=True, type=_time, help="end (exclusive)")
    cal.add_argument("--station", default=None, help="only this station (default: all stored)")
    cal.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                     help="write the stations file here (default: stdout; the table then "
                     "goes to stderr)")
    cal.add_argument("-c", "--config", type=Path, default=None, metavar="PATH",
                     help="alerts service YAML: its influx block, rules, registry and "
                     "evaluate_interval_s (HEATWATCH_* variables apply)")
    cal.add_argument("--rules", type=Path, default=None,
                     help="rules YAML the calibration is layered on (default: config's)")
    cal.add_argument("--registry", type=Path, default=None, help="station registry YAML")
    cal.add_argument("--influx-url", default=None, help="InfluxDB URL (default: config's)")
    cal.add_argument("--database", default=None, help="InfluxDB database (default: config's)")
    cal.add_argument("--timezone", default=None,
                     help="local time of the learned windows (default: the rules' heating "
                     "timezone for the station)")
    cal.add_argument("--off-share", type=float, default=0.5, metavar="SHARE",
                     help="a bin is in an off window when the station was off there on at "
                     "least this share of heating nights (default 0.5)")
    cal.add_argument("--resume-share", type=float, default=0.1, metavar="SHARE",
                     help="an off window ends once the station is back on all but this share "
                     "of heating nights (default 0.1): heat is owed from there")
    cal.add_argument("--min-hours", type=int, default=200, metavar="N",
                     help="refuse a station with fewer heating-hours with outdoor data")
    cal.add_argument("--min-nights", type=int, default=10, metavar="N",
                     help="heating nights needed to learn off and setback windows")
    cal.add_argument("--points", type=int, default=4, choices=(2, 3, 4),
                     help="most points of the fitted curve (default 4)")
    cal.add_argument("--check-from", type=_time, default=None,
                     help="later window for the before/after table (default: --to)")
    cal.add_argument("--check-to", type=_time, default=None,
                     help="(default: --check-from plus the calibration length, clipped to "
                     "the data)")
    cal.add_argument("--no-check", action="store_true",
                     help="no before/after backtest (just the file)")
    cal.add_argument("--step", type=float, default=None, metavar="S",
                     help="backtest evaluation interval in event time (default: "
                     "evaluate_interval_s)")
    cal.add_argument("-q", "--quiet", action="store_true", help="no per-station progress")


def _time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _list(rules: RulesConfig) -> int:
    print(f"{'rule':22} {'family':18} {'scope':8} severity")
    for name, family in sorted(FAMILIES.items(), key=lambda kv: (kv[1], kv[0])):
        params = rules.defaults_of(name)
        print(f"{name:22} {family:18} {BY_NAME[name].scope.value:8} {params.severity.value}")
    return 0


def _check(args: argparse.Namespace) -> int:
    rules = load_rules(args.file)
    zone = args.zone
    if args.station is not None and zone is None:
        zone = load_registry(args.registry).zone_of(args.station)
    effective: RuleSet = rules.params_for(zone or UNASSIGNED_ZONE, args.station)
    data = effective.model_dump(mode="json")
    if args.rule is not None:
        if args.rule not in data:
            print(f"heatwatch rules: no rule {args.rule!r}", file=sys.stderr)
            return 2
        data = {args.rule: data[args.rule]}
    where = ", ".join(x for x in (f"zone {zone}" if zone else "",
                                   f"station {args.station}" if args.station else "") if x)
    print(f"# {args.file or 'defaults'}: valid; effective parameters ({where or 'defaults'})")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 ok, 1 InfluxDB unavailable (backtest, calibrate) or no station could be
    calibrated, 2 invalid file or arguments."""
    try:
        if args.rules_command == "list":
            return _list(RulesConfig())
        if args.rules_command == "backtest":
            from alerts.backtest.cli import run_backtest

            return run_backtest(args)
        if args.rules_command == "calibrate":
            from alerts.calibrate_cli import run_calibrate

            return run_calibrate(args)
        return _check(args)
    except ConfigError as exc:
        print(f"heatwatch rules: {exc}", file=sys.stderr)
        return 2
