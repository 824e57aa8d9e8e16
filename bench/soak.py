"""Soak benchmark: a city's load for half an hour, end to end, nothing lost, no memory creep.

Target (issue 7): "30 minutes at city load (20,000 stations at 10 s, 400,000 flats at 5 min,
simulated): 0 lost, RSS growth < 10 % after warm-up for collector and engine, CPU share
printed."

Everything runs as the deployment runs it (heatwatch/local/run.py): Mosquitto and InfluxDB from
heatwatch.local.servers, then ``heatwatch collect``, ``heatwatch alerts`` and ``heatwatch simulate
--realtime`` as separate processes with config files in a run directory. Every 10 s the RSS and
CPU time of each process is sampled from /proc. When the simulator has finished its
``--minutes`` of wall-clock time, we wait for the collector to drain and compare what InfluxDB
holds with what the simulator says it published (one reading per message, normal_week has no
faults, so no duplicate or dropped deliveries are injected): any difference is a lost reading.

Why "after warm-up": the engine's windows and the collector's per-station state fill up during
the first reporting intervals (flats report every 5 min), which is growth by design; a leak is
growth after that. Warm-up is a third of the run, at most 10 minutes.

    .venv/bin/python bench/soak.py                 # 30 min, 20,000 stations, 20 flats each
    .venv/bin/python bench/soak.py --quick         # 90 s smoke with 200 stations
    .venv/bin/python bench/soak.py --minutes 5 --stations 2000 --write-doc
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Row, cpu_seconds, machine, machine_table, rss_mb, table

from alerts.settings import AlertsSettings
from alerts.settings import MetricsSettings as AlertsMetrics
from collector.config import CollectorSettings, DeadLetterSettings, SpoolSettings
from collector.config import MetricsSettings as CollectorMetrics
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port

DB = "heatwatch"
SAMPLE_S = 10.0
SIM_LINE = re.compile(
    r"simulated (?P<sim>[\d.]+) s in (?P<wall>[\d.]+) s wall \((?P<cpu>[\d.]+) s CPU\): "
    r"(?P<station>\d+) station and (?P<flat>\d+) flat messages, (?P<bytes>\d+) bytes; "
    r"worst lag behind schedule (?P<lag>[\d.]+) s"
)


@dataclass
class Proc:
    """One service process under observation: its samples of (time, RSS MB, CPU seconds)."""

    name: str
    child: Child | None = None  # None: a server started elsewhere, sampled by its pid
    pid: int = 0
    samples: list[tuple[float, float, float]] = field(default_factory=list)

    def start(self) -> None:
        assert self.child is not None
        self.child.start()
        assert self.child.proc is not None
        self.pid = self.child.proc.pid

    def exit_code(self) -> int | None:
        """The child's exit code once it has exited, else None."""
        proc = self.child.proc if self.child is not None else None
        return proc.poll() if proc is not None else None

    def sample(self, now: float) -> None:
        # A process that exited between two samples is reported by the caller, not here.
        if self.pid and Path(f"/proc/{self.pid}").exists():
            self.samples.append((now, rss_mb(self.pid), cpu_seconds(self.pid)))

    def rss_at(self, t: float) -> float:
        """RSS of the first sample at or after ``t`` (the warm-up end)."""
        for when, rss, _cpu in self.samples:
            if when >= t:
                return rss
        return self.samples[-1][1] if self.samples else 0.0

    def cpu_share(self) -> float:
        """Cores used on average over the sampled span (CPU seconds / wall seconds)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, _r0, c0), (t1, _r1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


def _metrics(port: int) -> dict[str, float]:
    """Prometheus text from a service, summed by metric name (labels folded together)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


@dataclass
class SoakResult:
    """What one soak run measured; ``lost`` is published minus stored, per measurement."""

    minutes: float
    stations: int
    flats: int
    published: dict[str, int]
    stored: dict[str, int]
    rejected: float
    procs: list[Proc]
    warmup_end: float
    sim_lag_s: float
    wall_s: float
    load: str
    drain_s: float = 0.0

    @property
    def lost(self) -> int:
        return sum(self.published[k] - self.stored.get(k, 0) for k in self.published)


def run_soak(
    *, minutes: float, stations: int, flats: int, per_gateway: int, work: Path,
    log: bool = True, drain_minutes: float = 10.0,
) -> SoakResult:
    """One soak run under ``work``; raises SystemExit if a service dies on the way."""

    def say(msg: str) -> None:
        if log:
            print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    broker = MosquittoServer(work / "mosquitto")
    influx = InfluxServer(work / "influxdb")
    broker.start()
    influx.start()
    influx.create_database(DB)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    registry = work / "registry.yaml"
    sim_cmd = heatwatch_argv(
        "simulate", "--scenario", "normal_week", "--realtime", "--seed", "7",
        "--stations", str(stations), "--flats", str(flats),
        "--stations-per-gateway", str(per_gateway),
        "--duration", f"{minutes * 60:.0f}s",
        "--host", broker.host, "--port", str(broker.port),
    )  # fmt: skip
    subprocess.run([*sim_cmd, "--write-registry", str(registry), "--registry-only"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = {"collector": free_port(), "alerts": free_port()}
    collector_cfg = write_settings(work / "collector.yaml", CollectorSettings(
        mqtt=broker.settings("soak-collector"),
        influx=influx.settings(DB, transport="v1"),
        registry=registry,
        spool=SpoolSettings(dir=work / "spool"),
        dead_letter=DeadLetterSettings(file=work / "rejected.jsonl"),
        metrics=CollectorMetrics(host="127.0.0.1", port=ports["collector"]),
    ))
    alerts_cfg = write_settings(work / "alerts.yaml", AlertsSettings(
        mqtt=broker.settings("soak-alerts"),
        influx=influx.settings(DB, transport="v1"),
        registry=registry,
        state_db=work / "alerts.db",
        metrics=AlertsMetrics(host="127.0.0.1", port=ports["alerts"]),
    ))
    procs = [
        Proc("collector", Child("collector", heatwatch_argv("collect", "-c", str(collector_cfg)),
                                logs / "collector.log")),
        Proc("alert engine", Child("alert engine", heatwatch_argv("alerts", "-c", str(alerts_cfg)),
                                   logs / "alert_engine.log")),
        Proc("simulator", Child("simulator", sim_cmd, logs / "simulator.log")),
        Proc("mosquitto", pid=broker.pid or 0), Proc("influxdb", pid=influx.pid or 0),
    ]
    try:
        procs[0].start()
        procs[1].start()
        # A city registry takes both services a while to read (heatwatch/registry.py).
        say(f"waiting for collector and alert engine to start ({stations:,} stations)")
        _wait_metrics(ports["collector"], "heatwatch_collector_mqtt_connects", 900.0, procs)
        _wait_metrics(ports["alerts"], "", 900.0, procs)
        time.sleep(5.0)  # the engine's warm-up query against an empty database
        t0 = time.monotonic()
        procs[2].start()
        warmup_end = t0 + min(600.0, minutes * 60 / 3)
        say(f"soak: {stations:,} stations x {flats} flats for {minutes:g} min, run dir {work}")
        next_sample = t0
        load_samples: list[float] = []
        while procs[2].exit_code() is None:
            now = time.monotonic()
            if now >= next_sample:
                for p in procs:
                    p.sample(now)
                load_samples.append(os.getloadavg()[0])
                next_sample += SAMPLE_S
                _check_alive(procs[:2])
                if len(load_samples) % 30 == 0:
                    m = _metrics(ports["collector"])
                    say(f"{(now - t0) / 60:.1f} min: collector stored "
                        f"{m.get('heatwatch_collector_readings_stored_total', 0):,.0f}, "
                        f"load {load_samples[-1]:.1f}")
            time.sleep(0.5)
        wall = time.monotonic() - t0
        published = _published(logs / "simulator.log")
        say(f"simulator done after {wall:.0f} s; draining the collector")
        drain0 = time.monotonic()
        stored = _drain(influx, published, ports["collector"], procs, drain_minutes * 60)
        drain_s = time.monotonic() - drain0
        now = time.monotonic()
        for p in procs:
            p.sample(now)
        _check_alive(procs[:2])
        cm = _metrics(ports["collector"])
        rejected = cm.get("heatwatch_collector_readings_rejected_total", 0.0)
        match = SIM_LINE.search((logs / "simulator.log").read_text(errors="replace"))
        lag = float(match["lag"]) if match else float("nan")
        load = (f"load average {min(load_samples):.1f}-{max(load_samples):.1f} "
                f"(mean {sum(load_samples) / len(load_samples):.1f}) on {os.cpu_count()} cores"
                if load_samples else "")
        return SoakResult(minutes, stations, flats, published, stored, rejected, procs,
                          warmup_end, lag, wall, load, drain_s)
    finally:
        for p in procs[:3]:
            if p.child is not None:
                p.child.stop(timeout=30)
        influx.stop()
        broker.stop()


def _wait_metrics(port: int, name: str, timeout: float, procs: Sequence[Proc]) -> None:
    """Until the counter ``name`` is >= 1 (empty name: until /metrics answers at all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _metrics(port)
        if found and (not name or found.get(f"{name}_total", 0) >= 1):
            return
        _check_alive(procs[:2])
        time.sleep(1.0)
    raise SystemExit(f"soak: service on metrics port {port} did not connect in {timeout:.0f} s")


def _check_alive(procs: Sequence[Proc]) -> None:
    for p in procs:
        if (code := p.exit_code()) is not None:
            raise SystemExit(f"soak: {p.name} exited with code {code}")


def _published(sim_log: Path) -> dict[str, int]:
    text = sim_log.read_text(errors="replace")
    match = SIM_LINE.search(text)
    if match is None:
        raise SystemExit(f"soak: no summary line in the simulator's log:\n{text[-2000:]}")
    return {"telemetry": int(match["station"]), "meter": int(match["flat"])}


def _drain(
    influx: InfluxServer, published: dict[str, int], metrics_port: int, procs: Sequence[Proc],
    limit_s: float,
) -> dict[str, int]:
    """Wait until InfluxDB holds everything published, nothing changes for 60 s, or
    ``limit_s`` passes: a machine too small for the load drains for hours, and what is not
    stored by then counts as not stored (the report says so)."""
    fields = {"telemetry": "supply_temp", "meter": "indoor_temp"}
    last: dict[str, int] = {}
    still_since = time.monotonic()
    give_up = still_since + limit_s
    while time.monotonic() < give_up:
        stored = {m: influx.count(m, f, db=DB) for m, f in fields.items()}
        if all(stored[m] >= published[m] for m in published):
            return stored
        if stored != last:
            last, still_since = stored, time.monotonic()
        queue = _metrics(metrics_port).get("heatwatch_collector_queue_depth", 0.0)
        if queue == 0 and time.monotonic() - still_since > 60:
            return stored
        for p in procs:
            p.sample(time.monotonic())
        time.sleep(5.0)
    return {m: influx.count(m, f, db=DB) for m, f in fields.items()}


def rows(res: SoakResult) -> list[Row]:
    """The report: loss per measurement, RSS growth after warm-up, CPU share per process."""
    out = [
        Row("telemetry readings published", res.published["telemetry"], "readings"),
        Row("meter readings published", res.published["meter"], "readings"),
        Row("readings lost (published - stored)", res.lost, "readings", "0", None, res.lost == 0),
        Row("readings rejected by the decoder", res.rejected, "readings", "0", None,
            res.rejected == 0),
        Row("stored readings/s (mean over the run)", sum(res.stored.values()) / res.wall_s,
            "readings/s", f"{res.stations / 10 + res.stations * res.flats / 300:,.0f} offered"),
        Row("simulator worst lag behind schedule", res.sim_lag_s, "s", "0 (real time)"),
        Row("drain after the simulator stopped", res.drain_s, "s"),
    ]
    for p in res.procs:
        if not p.samples:
            continue
        start, end = p.rss_at(res.warmup_end), p.samples[-1][1]
        growth = (end - start) / start * 100 if start else 0.0
        watched = p.name in ("collector", "alert engine")
        out.append(Row(f"{p.name} RSS at warm-up end", start, "MB"))
        out.append(Row(f"{p.name} RSS at end", end, "MB"))
        out.append(Row(f"{p.name} RSS growth after warm-up", growth, "%",
                       "< 10 %" if watched else "", None, growth < 10 if watched else None))
        out.append(Row(f"{p.name} CPU share", p.cpu_share() * 100, "% of a core"))
    return out


def report(res: SoakResult) -> str:
    head = (f"Soak: {res.stations:,} stations x {res.flats} flats "
            f"({res.stations * res.flats:,} flats) in real time for {res.minutes:g} min "
            f"(`bench/soak.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
            f"{res.load}.")
    return "\n\n".join([head, table("soak", rows(res)), machine_table(machine())])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--stations", type=int, default=None, help="default 20,000 (200 quick)")
    parser.add_argument("--flats", type=int, default=20, help="flats per station")
    parser.add_argument("--stations-per-gateway", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="1.5 min, 200 stations (smoke)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the run directory")
    parser.add_argument("--drain-minutes", type=float, default=10.0,
                        help="longest wait for the backlog after the simulator stops")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        minutes = args.minutes if "--minutes" in (argv or sys.argv) else 1.5
        stations = args.stations or 200
    else:
        minutes, stations = args.minutes, args.stations or 20_000
    with tempfile.TemporaryDirectory(prefix="hw-soak-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        res = run_soak(minutes=minutes, stations=stations, flats=args.flats,
                       per_gateway=min(args.stations_per_gateway, stations), work=work,
                       drain_minutes=args.drain_minutes)
    text = report(res)
    print(text)
    if args.write_doc:
        from alertbench import write_section

        name = "soak-quick" if args.quick else "soak"
        write_section(name, "## Soak\n\n" + text)
    return 0 if res.lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
