"""The collector as a real process (``python -m collector -c ...``): SIGKILLed mid-stream, and
SIGKILLed again while its readings sit in the spool; restarted, it loses nothing. SIGTERM
then stops it cleanly with exit code 0."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from collector_helpers import Publisher, telemetry, wait_until

from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

REPO = Path(__file__).resolve().parents[2]


class CollectorProcess:
    def __init__(self, config: Path, log: Path, metrics_port: int) -> None:
        self.config, self.log, self.metrics_port = config, log, metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector", "-c", str(self.config)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_until(lambda: self.metric("mqtt_connects_total") >= 1, 30, "collector connected")
        time.sleep(0.3)

    def metric(self, name: str) -> float:
        try:
            body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return -1.0
        m = re.search(rf"^heatwatch_collector_{name} (\S+)$", body, re.M)
        return float(m.group(1)) if m else 0.0

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


def test_sigkill_mid_stream_and_with_a_full_spool_loses_nothing(
    tmp_path: Path, mosquitto: MosquittoServer, own_influx: InfluxServer
) -> None:
    db = "killed"
    port = free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump({
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "client_id": "kill-test",
                 "reconnect_min_delay": 0.2, "reconnect_max_delay": 2.0},
        "influx": {"url": own_influx.url, "database": db, "timeout": 5.0},
        "batch": {"flush_interval": 0.2},
        "spool": {"dir": str(tmp_path / "spool"), "retry_min_delay": 0.2, "retry_max_delay": 1.0},
        "dead_letter": {"file": str(tmp_path / "rejected.jsonl")},
        "metrics": {"port": port},
    }))
    collector = CollectorProcess(config, tmp_path / "collector.log", port)
    pub = Publisher(mosquitto)
    try:
        _scenario(collector, pub, own_influx, db, tmp_path)
    finally:
        pub.close()
        if collector.proc is not None and collector.proc.poll() is None:
            collector.proc.kill()
            collector.proc.wait(10)


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
    wait_until(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 60,
               f"{total} readings stored after the first SIGKILL")

    # 2. InfluxDB away: readings are acked once in the spool; SIGKILL; restart replays the spool.
    own_influx.stop()
    for _ in range(50):
        pub.station("kill-2", [telemetry("kill-2") for _ in range(10)])
        total += 10
    pub.wait_all()
    wait_until(lambda: collector.metric("lines_spooled_total") >= 500, 30, "500 lines spooled")
    collector.kill()
    assert any((tmp_path / "spool").glob("seg-*.spool")), "spool left on disk"
    own_influx.start()
    collector.start()
    wait_until(lambda: own_influx.count("telemetry", "supply_temp", db=db) >= total, 60,
               f"{total} readings stored after the spool was replayed")
    assert own_influx.count("telemetry", "supply_temp", db=db) == total
    assert collector.metric("lines_replayed_total") >= 500

    # 3. SIGTERM: clean exit 0.
    assert collector.terminate() == 0
    log = (tmp_path / "collector.log").read_text()
    assert "Traceback" not in log
    assert list((tmp_path / "spool").glob("seg-*.spool")) == [], "spool fully replayed"
