"""The ``heatwatch`` command: one entry point, one subcommand per service.

Service packages are imported only when their subcommand runs, so ``heatwatch collect`` never
pays for numpy and a broken optional package cannot stop the others from starting.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from heatwatch import __version__

# subcommand -> (module providing add_arguments/main, help text)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("collector.cli", "subscribe to MQTT and store every reading in InfluxDB"),
    "simulate": ("simulators.cli", "publish a simulated fleet of stations and flats"),
    "alerts": ("alerts.cli", "evaluate alert rules on the live stream and notify crews"),
    "rules": ("alerts.rules_cli", "inspect and backtest alert rules"),
    "api": ("api.cli", "serve the REST API and the operator page"),
    "dashboards": ("dashboards.cli", "generate or push the Grafana dashboards"),
    "run": ("heatwatch.run", "run the whole stack on a simulated fleet (the main job)"),
}


def _load(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None  # this service is not part of this build yet
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heatwatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"heatwatch {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = _load(module_name)
        if module is None or not hasattr(module, "main"):
            continue
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per HTTP request would drown the services' own low-rate summaries.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    code: int = args._main(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
