"""Ingestion benchmark: sustained end-to-end readings/s stored, against two same-run ceilings.

1. bare subscriber: a paho client that only decodes JSON (the most any Python MQTT consumer
   can do here), fed by the same publisher;
2. raw writes: pre-built line protocol POSTed to InfluxDB's /write in batches (the most the
   database takes here);
3. heatwatch collector (its own process), one reading per message and arrays of 100, with its
   RSS and CPU. The clock stops when the collector's ``readings_stored`` counter (incremented
   only after InfluxDB answered 204) reaches N; then InfluxDB is asked to count, and must hold
   exactly N. (Counting in InfluxDB during the run instead, as an earlier version did, costs the
   database a scan of up to a million points every half second while it is being measured.)
CPU per reading (process CPU time / readings) is printed too: it is the least load-sensitive
figure on a shared machine.

Targets (2 cores): single >= 0.8x bare subscriber; arrays >= 50,000 readings/s and >= 0.7x raw
writes; collector RSS < 200 MB. Run: .venv/bin/python bench/ingest.py [--readings N] [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
import re
import resource

from common import Row, cpu_seconds, machine, machine_table, rss_mb, table
from publisher import reading

from collector.config import BatchSettings, CollectorSettings, MetricsSettings, SpoolSettings
from heatwatch.local.processes import write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

STATIONS = 500


def start_publisher(
    broker: MosquittoServer, readings: int, per_message: int
) -> subprocess.Popen[bytes]:
    """The publisher runs in its own process, as a real fleet's gateways would."""
    script = Path(__file__).resolve().parent / "publisher.py"
    argv = [sys.executable, str(script), broker.host, str(broker.port), str(readings)]
    return subprocess.Popen([*argv, str(per_message), str(STATIONS)], stdout=subprocess.DEVNULL)


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bare_subscriber(
    broker: MosquittoServer, readings: int, per_message: int
) -> tuple[float, float]:
    """Readings/s a paho subscriber reaches when it does nothing but decode JSON, and its
    CPU microseconds per reading."""
    got = 0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got
        data = orjson.loads(msg.payload)
        got += len(data) if isinstance(data, list) else 1
        if got >= readings:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", clean_session=True)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe("heat/+/telemetry", qos=1)
    client.loop_start()
    subscribed.wait(10)
    cpu0 = _own_cpu()
    start = time.perf_counter()
    pub = start_publisher(broker, readings, per_message)
    done.wait(600)
    elapsed = time.perf_counter() - start
    cpu = _own_cpu() - cpu0
    pub.wait()
    client.loop_stop()
    client.disconnect()
    return readings / elapsed, cpu / readings * 1e6


def raw_writes(
    influx: InfluxServer, readings: int, db: str, batch: int = BatchSettings().size
) -> float:
    """Readings/s InfluxDB accepts from pre-built line protocol in batches of the collector's
    default size (like for like: fewer, larger writes are cheaper for InfluxDB)."""
    influx.create_database(db)
    lines = [
        f"telemetry,station=st{i % STATIONS:05d},zone=z{i % 10} supply_temp=48.1,return_temp=39.2,"
        f"pump_running=true,supply_pressure=4.2,return_pressure=3.1,flow=100.5,makeup_flow=0.3,"
        f"primary_supply_temp=95.2,primary_return_temp=52.1,heat_power=2000,outdoor_temp=-11.5,"
        f"power_ok=true,seq={i // STATIONS}i {(1_767_225_600 + (i // STATIONS) * 10) * 10**9}"
        for i in range(readings)
    ]
    bodies = ["\n".join(lines[i : i + batch]).encode() for i in range(0, readings, batch)]
    with httpx.Client(timeout=60) as http:
        start = time.perf_counter()
        for body in bodies:
            params = {"db": db, "precision": "ns"}
            r = http.post(f"{influx.url}/write", params=params, content=body)
            r.raise_for_status()
        elapsed = time.perf_counter() - start
    return readings / elapsed


def _stored(metrics_port: int) -> int:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    m = re.search(r"^heatwatch_collector_readings_stored_total (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def _wait_subscribed(metrics_port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"collector exited with {proc.returncode}")
        try:
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            text = ""
        if "heatwatch_collector_mqtt_connects_total 1.0" in text:
            time.sleep(1.0)  # SUBACK follows CONNACK at once; leave it a moment
            return
        time.sleep(0.2)
    raise SystemExit("collector did not connect within 60 s")


def collector_run(
    broker: MosquittoServer, influx: InfluxServer, work: Path, readings: int, per_message: int,
    db: str,
) -> tuple[float, float, float]:
    """Readings/s stored by the heatwatch collector process (a new session, into a new
    database), its peak RSS in MB and its CPU microseconds per reading."""
    influx.create_database(db)
    metrics_port = free_port()
    cfg = write_settings(work / f"collector-{per_message}.yaml", CollectorSettings(
        mqtt=broker.settings(f"bench-{db}"),
        influx=influx.settings(db, transport="v1"),
        spool=SpoolSettings(dir=work / f"spool-{db}"),
        metrics=MetricsSettings(host="127.0.0.1", port=metrics_port),
    ))
    log = (work / f"collector-{db}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        # A brand-new session has no queue before its first SUBSCRIBE: publishing earlier
        # loses those messages at the broker, so wait until the collector is subscribed.
        _wait_subscribed(metrics_port, proc)
        cpu0 = cpu_seconds(proc.pid)
        start = time.perf_counter()
        pub = start_publisher(broker, readings, per_message)
        peak = 0.0
        stored = 0
        deadline = start + 900
        while stored < readings and time.perf_counter() < deadline:
            time.sleep(0.1)
            peak = max(peak, rss_mb(proc.pid))
            stored = _stored(metrics_port)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(proc.pid) - cpu0
        pub.wait()
        counted = influx.count("telemetry", "supply_temp", db=db)
        if counted != readings:
            raise SystemExit(f"InfluxDB holds {counted} of {readings} readings "
                             f"(collector says {stored}; see {log.name})")
        return readings / elapsed, peak, cpu / readings * 1e6
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        _end_session(broker, f"bench-{db}")


def _end_session(broker: MosquittoServer, client_id: str) -> None:
    """Drop the collector's persistent session: left behind, Mosquitto would queue every
    later message of the benchmark for it, and bill the next measurement for that work."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


METHOD = """\
`bench/ingest.py` at its default size (200,000 single-reading messages, then 1,000,000 readings
in arrays of 100), {runs} times over, each run against fresh databases and a new collector
session. The clock stops when the collector's `readings_stored` counter (counted after
InfluxDB's 204) reaches N, then InfluxDB must count exactly N. The raw ceiling writes pre-built
lines in the collector's default batch size (10,000); the bare subscriber is a paho MQTT 3.1.1
QoS 1 client doing nothing but `orjson.loads`, fed by the same publisher process. Every
ceiling is measured again in each run, so each ratio compares figures taken minutes apart.
CPU per reading (process CPU / readings) is the least load-sensitive figure. The last table
holds each target against the worst of the runs."""


def one_run(broker: MosquittoServer, influx: InfluxServer, work: Path, readings: int,
            array_readings: int, run: int) -> list[Row]:
    bare1, bare1_cpu = bare_subscriber(broker, readings, 1)
    bare100, bare100_cpu = bare_subscriber(broker, array_readings, 100)
    raw = raw_writes(influx, array_readings, f"raw_r{run}")
    single, rss1, single_cpu = collector_run(broker, influx, work, readings, 1, f"hw_1_r{run}")
    arrays, rss100, arrays_cpu = collector_run(
        broker, influx, work, array_readings, 100, f"hw_100_r{run}"
    )
    return [
        Row("bare subscriber, 1 reading/msg", bare1, "readings/s"),
        Row("bare subscriber, 100 readings/msg", bare100, "readings/s"),
        Row("raw line-protocol writes", raw, "readings/s"),
        Row("collector, 1 reading/msg, QoS 1", single, "readings/s", ">= 0.8x bare", bare1,
            single >= 0.8 * bare1),
        Row("collector, 100 readings/msg", arrays, "readings/s", ">= 50,000 and >= 0.7x raw",
            raw, arrays >= 50_000 and arrays >= 0.7 * raw),
        Row("collector peak RSS", max(rss1, rss100), "MB", "< 200 MB", None,
            max(rss1, rss100) < 200),
        Row("CPU, collector, 1 reading/msg", single_cpu, "us/reading", "", bare1_cpu),
        Row("CPU, collector, 100 readings/msg", arrays_cpu, "us/reading", "", bare100_cpu),
    ]


def worst(runs: list[list[Row]]) -> list[Row]:
    """Each target against the run that did worst on it."""
    def ratios(name: str) -> list[float]:
        return [100 * r.value / r.baseline for rows in runs for r in rows
                if r.name == name and r.baseline]

    def values(name: str) -> list[float]:
        return [r.value for rows in runs for r in rows if r.name == name]

    single = min(ratios("collector, 1 reading/msg, QoS 1"))
    arrays = min(ratios("collector, 100 readings/msg"))
    rate = min(values("collector, 100 readings/msg"))
    rss = max(values("collector peak RSS"))
    n = len(runs)
    return [
        Row(f"single-reading messages, lowest of {n} runs", single, "% of bare", ">= 80 %",
            None, single >= 80),
        Row(f"arrays, lowest of {n} runs", arrays, "% of raw", ">= 70 %", None, arrays >= 70),
        Row(f"arrays, lowest of {n} runs", rate, "readings/s", ">= 50,000", None,
            rate >= 50_000),
        Row(f"collector peak RSS, highest of {n} runs", rss, "MB", "< 200 MB", None, rss < 200),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--array-readings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3,
                        help="whole runs, ceilings included (the machine is shared and noisy)")
    args = parser.parse_args()
    assert reading(0, 0)  # the publisher's template is importable
    runs: list[list[Row]] = []
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(work / "mosquitto")
        influx = InfluxServer(work / "influxdb")
        broker.start()
        influx.start()
        try:
            for run in range(1, args.runs + 1):
                print(f"ingest run {run} of {args.runs}", file=sys.stderr, flush=True)
                runs.append(one_run(broker, influx, work, args.readings, args.array_readings,
                                    run))
        finally:
            broker.stop()
            influx.stop()
    print(METHOD.format(runs=args.runs))
    print()
    print(machine_table(machine()))
    for run, rows in enumerate(runs, 1):
        print()
        print(table(f"ingest, run {run} of {len(runs)}", rows))
    print()
    print(table(f"ingest targets, worst of {len(runs)} runs", worst(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
