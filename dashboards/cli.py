"""``heatwatch dashboards generate|push``: write the dashboard JSON, or upload it to Grafana."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from heatwatch.extras import require

__all__ = ["add_arguments", "main"]

TOKEN_ENV = "HEATWATCH_GRAFANA_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    gen = sub.add_parser("generate", help="write dashboards/json/*.json (provisioning, push) "
                         "and dashboards/import/*.json (Grafana's Import page) from the Python")
    gen.add_argument("--out", type=Path, default=None,
                     help="directory (default dashboards/json; the import form goes to "
                     "../import next to it)")
    gen.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if the committed JSON is out of date")
    push = sub.add_parser("push", help="upload the dashboards to a running Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://grafana:3000")
    push.add_argument("--token", default=None,
                      help=f"service account token (default: ${TOKEN_ENV}; prefer the variable, "
                      "a flag shows up in ps)")
    push.add_argument("--dir", type=Path, default=None, help="JSON directory to upload")
    push.add_argument("--folder", default="heatwatch", help="folder uid and title")


def _generate(args: argparse.Namespace) -> int:
    from dashboards.build import DASHBOARDS, JSON_DIR, generate, render

    out: Path = args.out or JSON_DIR
    if args.check:
        stale = [
            str(path) for name, build in DASHBOARDS.items()
            for path, for_import in ((out / f"{name}.json", False),
                                     (out.parent / "import" / f"{name}.json", True))
            if not path.is_file()
            or path.read_text(encoding="utf-8") != render(build(), for_import=for_import)
        ]
        if stale:
            print(f"out of date: {', '.join(stale)} (run heatwatch dashboards generate)",
                  file=sys.stderr)
            return 1
        return 0
    for path in generate(out):
        print(path)
    return 0


def _push(args: argparse.Namespace) -> int:
    from dashboards.build import JSON_DIR, load_json
    from dashboards.push import PushError, push_dashboards

    require("grafana_client", "dashboards", "heatwatch dashboards push")
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        print(f"heatwatch dashboards push: no token (--token or {TOKEN_ENV})", file=sys.stderr)
        return 2
    docs = load_json(args.dir or JSON_DIR)
    if not docs:
        print("heatwatch dashboards push: no dashboards to push", file=sys.stderr)
        return 2
    try:
        uids = push_dashboards(args.url, token, docs, folder_uid=args.folder,
                               folder_title=args.folder)
    except PushError as exc:
        print(f"heatwatch dashboards push: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {len(uids)} dashboards to {args.url}: {', '.join(uids)}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.dashboards_command == "generate":
        return _generate(args)
    return _push(args)
