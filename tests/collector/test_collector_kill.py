"""The collector as a real process (``python -m collector -c ...``): SIGKILLed mid-stream, and
SIGKILLed again while its readings sit in the spool; restarted, it loses nothing. SIGTERM
then stops it cleanly with exit code 0."""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import httpx
from collector_helpers import Publisher, telemetry
from support import wait_for

from collector.config import (
    BatchSettings,
    CollectorSettings,
    DeadLetterSettings,
    MetricsSettings,
    SpoolSettings,
)
from heatwatch.local.processes import Child, write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

REPO = Path(__file__).resolve().parents[2]


class CollectorProcess:
    """``python -m collector`` as a child process, and its metrics."""

    def __init__(self, config: Path, log: Path, metrics_port: int) -> None:
        self.child = Child("collector", [sys.executable, "-m", "collector", "-c", str(config)],
                           log, cwd=REPO)
        self.metrics_port = metrics_port

    def start(self) -> None:
        self.child.start()
        wait_for(lambda: self.metric("mqtt_connects_total") >= 1, 30, "collector connected")
        time.sleep(0.3)

    def metric(self, name: str) -> float:
        try:
            body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return -1.0
        m = re.search(rf"^heatwatch_collector_{name} (\S+)$", body, re.M)
        return float(m.group(1)) if m else 0.0

    def kill(self) -> None:
        self.child.kill()
        assert self.child.proc is not None and self.child.proc.returncode == -signal.SIGKILL

    def terminate(self) -> int | None:
        return self.child.stop(20)


def test_sigkill_mid_stream_and_with_a_full_spool_loses_nothing(
    tmp_path: Path, mosquitto: MosquittoServer, own_influx: InfluxServer
) -> None:
    db = "killed"
    port = free_port()
    config = write_settings(tmp_path / "collector.yaml", CollectorSettings(
        mqtt=mosquitto.settings("kill-test", reconnect_min_delay=0.2, reconnect_max_delay=2.0),
        influx=own_influx.settings(db, timeout=5.0),
        batch=BatchSettings(flush_interval=0.2),
        spool=SpoolSettings(dir=tmp_path / "spool", retry_min_delay=0.2, retry_max_delay=1.0),
        dead_letter=DeadLetterSettings(file=tmp_path / "rejected.jsonl"),
        metrics=MetricsSettings(port=port),
    ))
    collector = CollectorProcess(config, tmp_path / "collector.log", port)
    pub = Publisher(mosquitto)
    try:
        _scenario(collector, pub, own_influx, db, tmp_path)
    finally:
        pub.close()
        collector.child.kill()


def _scenario(
    collector: CollectorProcess, pub: Publisher, own_influx: InfluxServer, db: str, tmp_path: Path
) -> None:
    collector.start()
    total = 0

    # 1. SIGKILL while messages stream in; they wait at the broker and arrive after restart.
    for i in range(240):
        pub.station("kill-1", [telemetry("kill-1") for _ in range(10)])
        total += 10
        time.sleep(0.005)
        if i == 80:
            collector.kill()
        if i == 160:
            collector.start()
    pub.wait_all()
    wait_for(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 60,
             f"{total} readings stored after the first SIGKILL")

    # 2. InfluxDB away: readings are acked once in the spool; SIGKILL; restart replays the spool.
    own_influx.stop()
    for _ in range(50):
        pub.station("kill-2", [telemetry("kill-2") for _ in range(10)])
        total += 10
    pub.wait_all()
    wait_for(lambda: collector.metric("lines_spooled_total") >= 500, 30, "500 lines spooled")
    collector.kill()
    assert any((tmp_path / "spool").glob("seg-*.spool")), "spool left on disk"
    own_influx.start()
    collector.start()
    wait_for(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 60,
             f"{total} readings stored after the spool was replayed")
    assert own_influx.count("telemetry", "supply_temp", db=db) == total
    assert collector.metric("lines_replayed_total") >= 500

    # 3. SIGTERM: clean exit 0.
    assert collector.terminate() == 0
    log = (tmp_path / "collector.log").read_text()
    assert "Traceback" not in log
    assert list((tmp_path / "spool").glob("seg-*.spool")) == [], "spool fully replayed"
