"""The latency benchmarks (bench/api_bench.py: the API at city size; bench/notify_latency.py:
notification latency per channel) run end to end at toy sizes (``--quick``), so they keep
working as the code under them changes. No timing assertions: CI machines are shared and
noisy; full runs record the figures in docs/benchmarks.md. Both use the real servers
(InfluxDB, Mosquitto, Alertmanager)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(sys.platform != "linux", reason="real servers from heatwatch.local.servers"),
]


def _run(run_bench: Callable[..., str], module: str) -> str:
    out = run_bench(module)
    assert "| machine |" in out
    return out


def test_api_bench_quick(run_bench: Callable[..., str]) -> None:
    out = _run(run_bench, "api_bench")
    assert "| history 24 h @ 1 min p95 |" in out
    assert "300 stations online" in out  # the whole list came back, every station fresh
    assert "points per response: 1440-1440" in out  # 24 h of 10 s data in 1-minute buckets


def test_notify_latency_quick(run_bench: Callable[..., str]) -> None:
    out = _run(run_bench, "notify_latency")
    assert "missing:" not in out  # every channel received every alert
    for channel in ("webhook", "dingtalk", "wecom", "email", "mqtt", "alertmanager"):
        assert f"| {channel}: p95 |" in out
