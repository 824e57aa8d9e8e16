"""The chaos harness's own ground: its recomputed "published" set is what the simulator
process really sends, and its notification verdict catches what it claims to catch. Fast (no
servers), so a broken harness fails in seconds instead of passing five slow tests vacuously."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from harness import (
    REPO,
    Delivery,
    ReadingKey,
    notification_problems,
    published_readings,
    reading_keys,
    scenario,
)

pytestmark = pytest.mark.chaos


def test_replay_equals_what_the_simulator_process_publishes(tmp_path: Path) -> None:
    """Same scenario file, run by ``heatwatch simulate --output`` (as fast as possible): the
    in-process replay yields exactly the readings that process wrote, seq restarts included."""
    path = scenario(tmp_path / "s.yaml", start=float(int(time.time())), broker=("127.0.0.1", 1),
                    client_id="harness-check", duration_s=40.0)
    out = tmp_path / "out.jsonl"
    subprocess.run([sys.executable, "-m", "heatwatch.cli", "simulate", "--scenario", str(path),
                    "--fast", "--output", str(out)], cwd=REPO, check=True,
                   capture_output=True)
    written: set[ReadingKey] = set()
    for line in out.read_bytes().splitlines():
        msg = orjson.loads(line)
        if msg["topic"].endswith("/status"):
            continue
        written.update(reading_keys(msg["topic"], msg["payload"].encode()))
    replayed = published_readings(path)
    assert replayed == written
    seqs = sorted(k[4] for k in replayed if k[:3] == ("telemetry", "st-00006", ""))
    assert seqs.count(0) == 1 and seqs.count(1) == 2, "the power loss restarts st-00006's seq"


def _delivery(key: str, *alerts: tuple[str, str, str, str]) -> Delivery:
    return Delivery(key, 0.0, alerts)


TRUTH = [{"kind": "pump_trip", "station": "st-00002", "details": {}}]


def test_notification_verdict_accepts_one_firing_and_one_resolved() -> None:
    good = [_delivery("k1", ("a1", "firing", "pump_stopped", "st-00002")),
            _delivery("k2", ("a1", "resolved", "pump_stopped", "st-00002"))]
    assert notification_problems(good, TRUTH) == []
    # a later message of the group lists it again while it still fires: its state, not news
    carried = [good[0], _delivery("k3", ("a1", "firing", "pump_stopped", "st-00002")), good[1]]
    assert notification_problems(carried, TRUTH) == []


@pytest.mark.parametrize(
    ("deliveries", "problem"),
    [
        ([], "none of ['pump_stopped'] fired"),
        ([_delivery("k1", ("a1", "firing", "pump_stopped", "st-00002"))],
         "expected exactly ['firing', 'resolved']"),
        ([_delivery("k1", ("a1", "firing", "pump_stopped", "st-00002")),
          _delivery("k2", ("a1", "resolved", "pump_stopped", "st-00002")),
          _delivery("k3", ("a1", "resolved", "pump_stopped", "st-00002"))],
         "expected exactly ['firing', 'resolved']"),
        ([_delivery("k1", ("a1", "firing", "pump_stopped", "st-00002")),
          _delivery("k1", ("a1", "firing", "pump_stopped", "st-00002")),
          _delivery("k2", ("a1", "resolved", "pump_stopped", "st-00002"))],
         "Idempotency-Key delivered more than once"),
        ([_delivery("k1", ("a1", "firing", "pump_stopped", "st-00002")),
          _delivery("k2", ("a1", "resolved", "pump_stopped", "st-00002")),
          _delivery("k3", ("b1", "firing", "station_offline", "st-00009")),
          _delivery("k4", ("b1", "resolved", "station_offline", "st-00009"))],
         "fired on st-00009, which had no fault"),
    ],
)
def test_notification_verdict_catches(deliveries: list[Delivery], problem: str) -> None:
    problems = notification_problems(deliveries, TRUTH)
    assert any(problem in p for p in problems), problems
