"""The ``heatwatch`` command: every subcommand is listed; only the one run is imported."""

from __future__ import annotations

import subprocess
import sys

from heatwatch.cli import SUBCOMMANDS


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "heatwatch.cli", "--help"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for name in SUBCOMMANDS:
        assert name in out


def test_collect_does_not_import_the_other_services() -> None:
    code = (
        "import sys\n"
        "from heatwatch.cli import build_parser\n"
        "build_parser('collect').parse_args(['collect', '-c', 'x.yaml'])\n"
        "print(sorted(m for m in ('numpy', 'fastapi', 'simulators', 'api', 'alerts')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
