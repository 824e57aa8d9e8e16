"""``python -m collector -c collector.yaml`` (the same as ``heatwatch collect``)."""

from __future__ import annotations

import argparse
import sys

from collector.cli import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m collector", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
