"""``heatwatch import --mapping MAP.yaml FILE...``: load CSV history into InfluxDB.

InfluxDB, batch size, the decoder's future limit and the dead-letter file come from the
collector's config (``-c``, the same file and ``HEATWATCH_*`` variables as ``heatwatch
collect``), so an import lands where live readings land and is judged the same way.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from collector.config import load_collector_settings
from heatwatch.extras import require
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mapping", type=Path, required=True, metavar="MAP.yaml",
                        help="columns, station, time format and zone of the files "
                        "(reference: examples/xai4heat-mapping.yaml, docs/import.md)")
    parser.add_argument("-c", "--config", type=Path, default=None, metavar="PATH",
                        help="collector YAML config: influx, batch.size, "
                        "validation.max_future_s, dead_letter.file")
    parser.add_argument("--dead-letter", type=Path, default=None, metavar="PATH",
                        help="JSONL file for rejected rows (default: the collector's "
                        "dead_letter.file)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (it is also off when stderr is not a terminal)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV files")


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 imported (rejected rows are counted, not failures), 1 a file could not
    be read or InfluxDB stayed unavailable, 2 bad mapping or configuration (or the ``tools``
    extra missing: :class:`heatwatch.extras.MissingExtra`)."""
    require("tqdm", "tools", "heatwatch import (progress bar)")  # before reading anything
    from collector.import_mapping import load_mapping

    try:
        mapping = load_mapping(args.mapping)
        settings = load_collector_settings(args.config)
    except ConfigError as exc:
        print(f"heatwatch import: {exc}", file=sys.stderr)
        return 2
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"heatwatch import: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from collector.importer import ImportFailed, import_files

    dead_letter = args.dead_letter or settings.dead_letter.file
    if dead_letter is None:
        print("heatwatch import: no dead-letter file (dead_letter.file or --dead-letter): "
              "rejected rows are counted but not kept", file=sys.stderr)
    try:
        summary = import_files(
            mapping, args.files, settings.influx, dead_letter=dead_letter,
            batch_size=settings.batch.size, max_future_s=settings.validation.max_future_s,
            progress=False if args.quiet else None,
        )
    except ImportFailed as exc:
        print(exc.summary.format(), file=sys.stderr)
        print(f"heatwatch import: stopped: {exc} (importing again is safe: nothing is "
              "stored twice)", file=sys.stderr)
        return 1
    print(summary.format())
    return 1 if summary.errors else 0
