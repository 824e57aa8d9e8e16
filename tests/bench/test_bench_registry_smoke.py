"""bench/registry_memory.py runs end to end at a toy size (``--quick``: 200 stations, the old
and new loaders, the three services on the compact form with real Mosquitto and InfluxDB), so
it keeps working as the code under it changes. No memory or timing assertions here: full runs
record the figures in docs/benchmarks.md; tests/heatwatch/test_registry_scale.py checks the
memory properties."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(sys.platform != "linux", reason="real servers from heatwatch.local.servers"),
]


def test_registry_memory_quick(run_bench: Callable[..., str]) -> None:
    out = run_bench("registry_memory")
    assert "200 stations, 4,000 flats" in out
    for service in ("collector", "alerts", "api"):  # --quick: on the compact form only
        assert f"| {service} on compact .jsonl: steady RSS |" in out
    assert "| new, compact .jsonl: load time (CPU) |" in out
