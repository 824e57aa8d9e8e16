"""``heatwatch api`` / ``python -m api``: serve the API, or make an API key (``hash-key``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.config import load_api_settings
from api.keys import add_hash_arguments, run_hash_key
from heatwatch.logs import configure, level_for
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", nargs="?", default="serve", choices=["serve", "hash-key"],
        help="serve (default) or hash-key: print a new API key and its config entry",
    )
    parser.add_argument(
        "-c", "--config", type=Path, default=None, metavar="PATH",
        help="API YAML config (reference: api/api.sample.yaml); HEATWATCH_* override it",
    )
    add_hash_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 clean stop, 2 bad configuration."""
    if args.action == "hash-key":
        return run_hash_key(args)
    try:
        settings = load_api_settings(args.config)
    except ConfigError as exc:
        print(f"heatwatch api: {exc}", file=sys.stderr)
        return 2
    level = level_for(args, settings.log_level)
    configure(level)
    from api.main import create_app  # after the config check: no FastAPI import on error

    try:
        app = create_app(settings)
    except ConfigError as exc:  # e.g. an invalid registry or rules file
        print(f"heatwatch api: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=level.lower(),
        access_log=False,
        proxy_headers=True,
    )
    return 0
