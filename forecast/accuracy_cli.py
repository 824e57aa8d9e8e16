"""``heatwatch forecast accuracy``: how wrong the stored forecasts were, by lead time.

Compares every stored ``weather_forecast`` point targeted in ``[--from, --to)`` with the
zone's measured outdoor temperature (the mean of its stations' ``telemetry.outdoor_temp``
over the hour centred on the target) and prints MAE and bias per lead hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def _time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _leads(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of whole hours: {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, type=_time,
                        help="first target time, ISO 8601 (no offset = UTC)")
    parser.add_argument("--to", dest="end", required=True, type=_time,
                        help="end of the target times (exclusive)")
    parser.add_argument("-c", "--config", type=Path, default=None, metavar="PATH",
                        help="alerts service YAML: its influx block (HEATWATCH_* apply)")
    parser.add_argument("--influx-url", default=None, help="InfluxDB URL (default: config's)")
    parser.add_argument("--database", default=None, help="InfluxDB database (default: config's)")
    parser.add_argument("--zone", default=None, help="only this zone")
    parser.add_argument("--source", default=None, help="only this source (mqtt, open-meteo, sim)")
    parser.add_argument("--leads", type=_leads, default=None, metavar="H,H,...",
                        help="only these lead hours (e.g. 1,3,6,12,24); default: all")


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 printed, 1 InfluxDB unavailable, 2 bad arguments or configuration."""
    from alerts.history import HistorySource, HistoryUnavailable
    from alerts.settings import load_alerts_settings
    from forecast.store import actual_outdoor, error_by_lead, load_forecasts

    if args.end <= args.start:
        print("heatwatch forecast accuracy: --to must be after --from", file=sys.stderr)
        return 2
    try:
        influx = load_alerts_settings(args.config).influx
    except ConfigError as exc:
        print(f"heatwatch forecast accuracy: {exc}", file=sys.stderr)
        return 2
    influx = influx.overridden(args.influx_url or None, args.database or None)
    start, end = args.start.timestamp(), args.end.timestamp()
    source = HistorySource(influx)
    try:
        forecasts = load_forecasts(source.query, start, end, zone=args.zone, source=args.source)
        actual = actual_outdoor(source.query, start, end, zone=args.zone)
    except HistoryUnavailable as exc:
        print(f"heatwatch forecast accuracy: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    rows = error_by_lead(forecasts, actual, leads=args.leads)
    print(f"{len(forecasts)} forecast issues, {len(actual)} measured zone-hours")
    print(f"{'lead h':>6} {'points':>7} {'MAE K':>7} {'bias K':>7}")
    for r in rows:
        print(f"{r.lead_h:>6} {r.n:>7} {r.mae:>7.2f} {r.bias:>+7.2f}")
    if not rows:
        print("no forecast point has a measurement for its hour")
    return 0
