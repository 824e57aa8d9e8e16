"""``python -m simulators``: the same as ``heatwatch simulate``."""

from __future__ import annotations

import argparse
import sys

from simulators.cli import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
