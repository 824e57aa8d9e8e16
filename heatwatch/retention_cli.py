"""``heatwatch retention apply|backfill``: retention and hourly downsampling on an InfluxDB 1.x
that heatwatch does not start itself (a systemd host with Debian's influxdb).

``heatwatch run`` applies the same settings to the InfluxDB it starts; docker compose (2.x)
uses deploy/influxdb/downsampling.sh instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime

from pydantic import ValidationError

from heatwatch.influx import InfluxClient, InfluxUnavailable
from heatwatch.retention import RetentionSettings, apply_retention, backfill
from heatwatch.settings import InfluxSettings

__all__ = ["add_arguments", "main"]

PASSWORD_ENV = "HEATWATCH_INFLUX__PASSWORD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    for name, text in (("apply", "create or alter the policies and continuous queries"),
                       ("backfill", "compute the hourly points of a past range now")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--url", default="http://127.0.0.1:8086", help="InfluxDB 1.x URL")
        p.add_argument("--database", default="heatwatch")
        p.add_argument("--user", default=None,
                       help=f"admin user (password from ${PASSWORD_ENV})")
        p.add_argument("--raw-retention", default="90d")
        p.add_argument("--hourly-retention", default="260w")
        if name == "backfill":
            p.add_argument("--from", dest="start", required=True, type=datetime.fromisoformat,
                           help="ISO time with offset, e.g. 2026-01-01T00:00:00+00:00")
            p.add_argument("--to", dest="end", required=True, type=datetime.fromisoformat)


def main(args: argparse.Namespace) -> int:
    password = os.environ.get(PASSWORD_ENV, "") if args.user else None
    try:
        settings = RetentionSettings(raw_duration=args.raw_retention,
                                     hourly_duration=args.hourly_retention)
        target = InfluxSettings.model_validate({"url": args.url, "database": args.database,
                                                "username": args.user, "password": password})
    except ValidationError as exc:
        print(f"heatwatch retention: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return 2
    # A backfill of months runs long in InfluxDB: give it ten minutes per statement.
    with InfluxClient(target, timeout=600) as influx:
        try:
            if args.retention_command == "apply":
                for statement in apply_retention(influx.series, args.database, settings):
                    print(statement)
            else:
                backfill(influx.series, args.database, settings, args.start, args.end)
                print(f"hourly points of {args.start.isoformat()} .. {args.end.isoformat()} "
                      "written")
        except (InfluxUnavailable, ValueError) as exc:
            print(f"heatwatch retention: {exc}", file=sys.stderr)
            return 1
    return 0
