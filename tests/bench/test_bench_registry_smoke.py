"""bench/registry_memory.py runs end to end at a toy size (``--quick``: 200 stations, the old
and new loaders, the three services on the compact form with real Mosquitto and InfluxDB), so
it keeps working as the code under it changes. No memory or timing assertions here: full runs
record the figures in docs/benchmarks.md; tests/heatwatch/test_registry_scale.py checks the
memory properties."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(sys.platform != "linux", reason="real servers from heatwatch.local.servers"),
]


def test_registry_memory_quick(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    mod = importlib.import_module("registry_memory")
    assert mod.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "200 stations, 4,000 flats" in out
    for service in ("collector", "alerts", "api"):  # --quick: on the compact form only
        assert f"| {service} on compact .jsonl: steady RSS |" in out
    assert "| new, compact .jsonl: load time (CPU) |" in out
