"""The latency benchmarks (bench/api_bench.py: the API at city size; bench/notify_latency.py:
notification latency per channel) run end to end at toy sizes (``--quick``), so they keep
working as the code under them changes. No timing assertions: CI machines are shared and
noisy; full runs record the figures in docs/benchmarks.md. Both use the real servers
(InfluxDB, Mosquitto, Alertmanager)."""

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


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


def _run(module: str, capsys: pytest.CaptureFixture[str]) -> str:
    mod = importlib.import_module(module)
    assert mod.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| machine |" in out
    return out


def test_api_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run("api_bench", capsys)
    assert "| history 24 h @ 1 min p95 |" in out
    assert "300 stations online" in out  # the whole list came back, every station fresh
    assert "points per response: 1440-1440" in out  # 24 h of 10 s data in 1-minute buckets


def test_notify_latency_quick(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run("notify_latency", capsys)
    assert "missing:" not in out  # every channel received every alert
    for channel in ("webhook", "dingtalk", "wecom", "email", "mqtt", "alertmanager"):
        assert f"| {channel}: p95 |" in out
