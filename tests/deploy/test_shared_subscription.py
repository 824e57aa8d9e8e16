"""Scale-out (docs/scaling.md): three collector processes in one MQTT shared-subscription group
on the real Mosquitto. Every reading is stored exactly once and each collector takes a share.

"Exactly once" is checked from both ends: InfluxDB holds every reading (none lost), and the
collectors' ``readings_stored`` counters add up to the number published (a reading handed to
two collectors would be counted twice; InfluxDB alone cannot show that, since rewriting a point
overwrites it).

Mosquitto hands a group's messages out round robin, so one station's readings are spread over
all collectors and each collector's seq tracker sees holes that are not losses. The station
count (31) is deliberately not a multiple of 3: with 30, round robin would pin every station to
one collector by accident and hide that. ``test_seq_accounting_survives_the_split`` checks
that no collector raises a false gap alarm: in a shared group, seq accounting is off by default
(``subscription.seq_accounting: auto``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import (
    BatchSettings,
    CollectorSettings,
    DeadLetterSettings,
    MetricsSettings,
    SpoolSettings,
    SubscriptionSettings,
)
from heatwatch.local.processes import write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parents[2]
COLLECTORS = 3
MESSAGES = 900
STATIONS = 31
_STORED = re.compile(r"^heatwatch_collector_readings_stored_total (\S+)$", re.M)
_GAPS = re.compile(r"^heatwatch_collector_seq_gap_alarms_total (\S+)$", re.M)
_CONNECTS = re.compile(r"^heatwatch_collector_mqtt_connects_total (\S+)$", re.M)


def _config(tmp: Path, i: int, broker: MosquittoServer, influx: InfluxServer, db: str,
            port: int) -> Path:
    return write_settings(tmp / f"collector-{i}.yaml", CollectorSettings(
        mqtt=broker.settings(f"shared-collector-{i}"),
        influx=influx.settings(db),
        batch=BatchSettings(flush_interval=0.2),
        subscription=SubscriptionSettings(shared_group="collectors"),
        spool=SpoolSettings(dir=tmp / f"spool-{i}"),
        dead_letter=DeadLetterSettings(file=tmp / f"rejected-{i}.jsonl", publish=False),
        metrics=MetricsSettings(host="127.0.0.1", port=port, log_interval=5.0),
    ))


def _metric(port: int, pattern: re.Pattern[str]) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    m = pattern.search(text)
    return float(m.group(1)) if m else 0.0


@dataclass(frozen=True)
class Run:
    stored: list[float]
    gap_alarms: list[float]
    in_influx: int


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, influx: InfluxServer) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("shared")
    broker = MosquittoServer(tmp_path / "mosquitto")
    broker.start()
    database = "shared_subscription"
    influx.create_database(database)
    try:
        with _collectors(tmp_path, broker, influx, database) as ports:
            _publish(broker)
            yield _wait(ports, influx, database)
    finally:
        broker.stop()


@contextlib.contextmanager
def _collectors(
    tmp_path: Path, own_mosquitto: MosquittoServer, influx: InfluxServer, database: str
) -> Iterator[list[int]]:
    ports = [free_port() for _ in range(COLLECTORS)]
    procs = []
    logs = []
    for i, port in enumerate(ports):
        cfg = _config(tmp_path, i, own_mosquitto, influx, database, port)
        log = (tmp_path / f"collector-{i}.log").open("wb")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "collector", "-c", str(cfg)],
                                      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            _metric(p, _CONNECTS) >= 1 for p in ports
        ):
            assert all(p.poll() is None for p in procs), "a collector exited at start"
            time.sleep(0.2)
        assert all(_metric(p, _CONNECTS) >= 1 for p in ports), "collectors did not connect"
        time.sleep(0.5)  # SUBACK round trip after the connect
        yield ports
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


def _publish(broker: MosquittoServer) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="shared-pub", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(200)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    t0 = int(time.time() * 1000) - 600_000
    infos = []
    for k in range(MESSAGES):
        station = f"st-{k % STATIONS:03d}"
        doc = {"ts": t0 + k, "seq": k // STATIONS + 1, "supply_temp": 60.0 + k % 7,
               "return_temp": 40.0, "pump_running": True}
        infos.append(pub.publish(f"heat/{station}/telemetry", orjson.dumps(doc), qos=1))
    for info in infos:
        info.wait_for_publish(30)
    pub.disconnect()
    pub.loop_stop()


def _wait(ports: list[int], influx: InfluxServer, database: str) -> Run:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if influx.count("telemetry", "supply_temp", db=database) >= MESSAGES and sum(
            _metric(p, _STORED) for p in ports
        ) >= MESSAGES:
            break
        time.sleep(0.3)
    time.sleep(1.0)  # anything extra (a duplicate) would arrive now
    return Run(stored=[_metric(p, _STORED) for p in ports],
               gap_alarms=[_metric(p, _GAPS) for p in ports],
               in_influx=influx.count("telemetry", "supply_temp", db=database))


def test_three_collectors_split_the_load_and_store_everything_once(run: Run) -> None:
    print(f"readings stored per collector: {run.stored}")
    assert run.in_influx == MESSAGES
    assert sum(run.stored) == MESSAGES, run.stored
    assert all(n > 0 for n in run.stored), run.stored


def test_seq_accounting_survives_the_split(run: Run) -> None:
    assert run.gap_alarms == [0.0] * COLLECTORS
