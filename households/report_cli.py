"""``heatwatch report comfort``: the comfort ledger and refund exposure of any past period.

Recomputed from the stored ``meter`` readings with the same functions the alert engine uses as
days close, so a report and the ``comfort_day`` points agree; ``--write`` stores the result as
``comfort_day`` too (a backfill, or a recompute after a rules or fee change).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from alerts.config import load_rules
from alerts.history import HistorySource, HistoryUnavailable
from alerts.notify.influx import AlertEventSink, SinkError
from alerts.settings import load_alerts_settings
from heatwatch.registry import ID_PATTERN, load_registry
from heatwatch.settings import ConfigError
from households.compute import LedgerReadError, period_rows, write_rows
from households.config import load_comfort
from households.report import LEVELS, summary, tables, write_csv, write_xlsx

__all__ = ["add_arguments", "main"]

_ID = re.compile(ID_PATTERN)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    c = sub.add_parser("comfort", help="comfort ledger and refund exposure of a period",
                       description=__doc__)
    c.add_argument("--from", dest="start", required=True, type=_bound,
                   help="first day: a date (the zones' local day) or an ISO 8601 time")
    c.add_argument("--to", dest="end", required=True, type=_bound,
                   help="end (exclusive): a date or an ISO 8601 time (no offset = UTC)")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--zone", default=None, type=_id, help="only this zone")
    where.add_argument("--station", default=None, type=_id, help="only this station")
    c.add_argument("--format", choices=("csv", "xlsx"), default="csv",
                   help="csv: one table (--by); xlsx: every table as a sheet (needs openpyxl)")
    c.add_argument("--by", choices=LEVELS, default="flat",
                   help="csv: flat-days, or totals per station, zone or the company")
    c.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                   help="output file (csv default: stdout; xlsx: required)")
    c.add_argument("--write", action="store_true",
                   help="also store the days as comfort_day points in InfluxDB")
    c.add_argument("-c", "--config", type=Path, default=None, metavar="PATH",
                   help="alerts service YAML: its influx block, rules, registry and "
                   "comfort.file (HEATWATCH_* variables apply)")
    c.add_argument("--comfort", type=Path, default=None, help="comfort YAML (bands, fees)")
    c.add_argument("--rules", type=Path, default=None, help="rules YAML (zone time zones)")
    c.add_argument("--registry", type=Path, default=None, help="station registry YAML")
    c.add_argument("--influx-url", default=None, help="InfluxDB URL (default: config's)")
    c.add_argument("--database", default=None, help="InfluxDB database (default: config's)")


def _bound(text: str) -> dt.date | dt.datetime:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _id(text: str) -> str:
    if not _ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an id: {text!r}")
    return text


def _epoch(value: dt.date | dt.datetime) -> float | dt.date:
    return value.timestamp() if isinstance(value, dt.datetime) else value


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 done, 1 InfluxDB could not answer, 2 bad arguments or files."""
    try:
        return _comfort(args)
    except ConfigError as exc:
        print(f"heatwatch report: {exc}", file=sys.stderr)
        return 2


def _comfort(args: argparse.Namespace) -> int:
    start, end = _epoch(args.start), _epoch(args.end)
    if type(start) is type(end) and end <= start:  # type: ignore[operator]
        return _usage("--to must be after --from")
    if args.format == "xlsx" and args.output is None:
        return _usage("--format xlsx needs -o FILE")
    settings = load_alerts_settings(args.config)
    rules = load_rules(args.rules or settings.rules)
    registry = load_registry(args.registry or settings.registry)
    cfg = load_comfort(args.comfort or settings.comfort.file)
    influx = settings.influx.overridden(args.influx_url, args.database)
    source = HistorySource(influx)
    try:
        rows = list(period_rows(source.query, registry, rules, cfg, start, end,
                                zone=args.zone, station=args.station))
        if args.write:
            sink = AlertEventSink(influx)
            try:
                written = write_rows(sink.write_lines, rows, cfg.ledger.standard_c)
            finally:
                sink.close()
            print(f"{written} comfort_day points written", file=sys.stderr)
    except (HistoryUnavailable, SinkError, LedgerReadError) as exc:
        print(f"heatwatch report comfort: InfluxDB: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    all_tables = tables(rows, [b.name for b in cfg.bands])
    if args.format == "xlsx":
        try:
            write_xlsx(all_tables, args.output)
        except ModuleNotFoundError:
            return _usage("--format xlsx needs openpyxl: pip install 'heatwatch[reports]'")
    elif args.output is None:
        write_csv(all_tables[args.by], sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as fh:
            write_csv(all_tables[args.by], fh)
    print(summary(rows, cfg.currency), file=sys.stderr)
    return 0


def _usage(message: str) -> int:
    print(f"heatwatch report comfort: {message}", file=sys.stderr)
    return 2
