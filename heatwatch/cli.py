"""The ``heatwatch`` command: one entry point, one subcommand per service.

Only the package of the subcommand being run is imported (all of them for ``--help``), so
``heatwatch collect`` does not pay for numpy or FastAPI, and one service's missing dependency
cannot stop another service from starting.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from heatwatch import __version__
from heatwatch.extras import MissingExtra
from heatwatch.logs import LEVELS, configure

# subcommand -> (module providing add_arguments/main, help text)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("collector.cli", "subscribe to MQTT and store every reading in InfluxDB"),
    "import": ("collector.import_cli", "import CSV history (SCADA exports) into InfluxDB"),
    "simulate": ("simulators.cli", "publish a simulated fleet of stations and flats"),
    "alerts": ("alerts.cli", "evaluate alert rules on the live stream and notify crews"),
    "rules": ("alerts.rules_cli", "inspect and backtest alert rules"),
    "api": ("api.cli", "serve the REST API and the operator page"),
    "dashboards": ("dashboards.cli", "generate or push the Grafana dashboards"),
    "registry": ("heatwatch.registry_cli", "check a station registry or convert it to the "
                 "compact form"),
    "retention": ("heatwatch.retention_cli", "InfluxDB 1.x retention policies and hourly "
                  "downsampling (continuous queries)"),
    "forecast": ("forecast.cli", "weather forecast input and cold-flat predictions"),
    "report": ("households.report_cli", "comfort ledger and refund exposure of a past period"),
    "run": ("heatwatch.local.run", "run the whole stack on a simulated fleet (the main job)"),
}


def _load(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None  # this service is not part of this build yet
        raise


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """``chosen``: the subcommand about to run; the others get a help line only."""
    parser = argparse.ArgumentParser(prog="heatwatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"heatwatch {__version__}")
    parser.add_argument(
        "--log-level", default=None, choices=LEVELS,
        help="log level (default: the service's log_level setting, else INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if chosen is not None and name != chosen:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        module = _load(module_name)
        if module is None or not hasattr(module, "main"):
            continue
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if a in SUBCOMMANDS), None)
    parser = build_parser(chosen)
    args = parser.parse_args(args_list)
    # A service sets its own level once its settings are loaded (heatwatch.logs.level_for).
    configure(args.log_level or "INFO")
    try:
        code: int = args._main(args)
    except MissingExtra as exc:  # a tool's optional dependency: one line, no traceback
        print(exc, file=sys.stderr)  # the message names the command and the extra
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
