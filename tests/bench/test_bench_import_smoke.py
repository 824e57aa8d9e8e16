"""bench/import_speed.py runs end to end at a tiny size. No timing assertion (the machine is
shared); what must hold is that InfluxDB holds exactly the readings the import says it stored."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest


@pytest.mark.servers
def test_import_speed_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = importlib.import_module("import_speed")
    bench.main(["--rows", "3000", "--stations", "3", "--real", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert "| heatwatch import, end to end |" in out
    assert "| raw write ceiling (pre-built lines, same writer) |" in out
    assert "(equal)" in out and "rejected {'out_of_range': 3}" in out
    assert "not found, skipped" in out and "| machine |" in out
