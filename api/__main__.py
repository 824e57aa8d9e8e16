"""``python -m api``: same as ``heatwatch api``."""

from __future__ import annotations

import argparse
import sys

from api.cli import add_arguments, main

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
