"""``heatwatch run``: the main job. A simulated fleet monitored end to end on this machine.

It starts Mosquitto and InfluxDB on loopback under a run directory, then the heatwatch services
as child processes (each with the same config files a real deployment would use, written into the
run directory so a newcomer can read them), prints where to look, and keeps going until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import yaml

from heatwatch.servers import InfluxServer, MosquittoServer, ServerError, free_port

DATABASE = "heatwatch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-dir", type=Path, default=Path("run"), help="where servers keep data and logs"
    )
    parser.add_argument(
        "--mqtt-port", type=int, default=1883, help="broker port (a free one if taken)"
    )
    parser.add_argument(
        "--influx-port", type=int, default=8086, help="InfluxDB port (a free one if taken)"
    )
    parser.add_argument("--metrics-port", type=int, default=9101, help="collector /metrics port")
    parser.add_argument("--scenario", type=Path, default=None, help="simulator scenario file")
    parser.add_argument("--stations", type=int, default=40, help="simulated stations")
    parser.add_argument(
        "--status-every", type=float, default=15.0, help="seconds between status lines"
    )


def _port_or_free(port: int) -> int:
    if port == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()


def _heatwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "heatwatch.cli", *args]


def _write_yaml(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class _Stop(Exception):
    """Raised from the signal handler to leave the main loop."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir.resolve()
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mqtt_port = _port_or_free(args.mqtt_port)
    influx_port = _port_or_free(args.influx_port)
    metrics_port = _port_or_free(args.metrics_port)

    broker = MosquittoServer(run_dir / "mosquitto", port=mqtt_port)
    influx = InfluxServer(run_dir / "influxdb", port=influx_port)
    children: list[Child] = []
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        broker.start()
        influx.start()
        influx.create_database(DATABASE)
        registry = run_dir / "registry.yaml"
        children = _plan_children(args, run_dir, registry, mqtt_port, influx, metrics_port)
        for child in children:
            child.start()
        _banner(run_dir, broker, influx, metrics_port, children)
        while True:
            time.sleep(args.status_every)
            _status(influx, children)
            dead = [c for c in children if not c.alive()]
            if dead:
                names = ", ".join(f"{c.name} (see {c.log_path})" for c in dead)
                print(f"heatwatch run: stopped because a service exited: {names}", flush=True)
                return 1
    except _Stop as stop:
        print(f"\nheatwatch run: {stop}, shutting down", flush=True)
        return 0
    except ServerError as exc:
        print(f"heatwatch run: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for child in reversed(children):
            child.stop()
        influx.stop()
        broker.stop()


def _plan_children(
    args: argparse.Namespace,
    run_dir: Path,
    registry: Path,
    mqtt_port: int,
    influx: InfluxServer,
    metrics_port: int,
) -> list[Child]:
    logs = run_dir / "logs"
    mqtt = {"host": "127.0.0.1", "port": mqtt_port}
    sim_cmd = _heatwatch(
        "simulate",
        "--mqtt-host",
        "127.0.0.1",
        "--mqtt-port",
        str(mqtt_port),
        "--stations",
        str(args.stations),
        "--write-registry",
        str(registry),
        "--ground-truth",
        str(run_dir / "ground_truth.jsonl"),
    )
    if args.scenario is not None:
        sim_cmd += ["--scenario", str(args.scenario)]
    # The registry must exist before the collector reads it: write it first, synchronously.
    subprocess.run([*sim_cmd, "--registry-only"], check=True, stdout=subprocess.DEVNULL)
    collector_cfg = _write_yaml(
        run_dir / "collector.yaml",
        {
            "mqtt": {**mqtt, "client_id": "heatwatch-collector"},
            "influx": {"transport": "v1", "url": influx.url, "database": DATABASE},
            "registry": str(registry),
            "spool": {"dir": str(run_dir / "spool")},
            "dead_letter": {"file": str(run_dir / "rejected.jsonl")},
            "metrics": {"host": "127.0.0.1", "port": metrics_port},
        },
    )
    return [
        Child("collector", _heatwatch("collect", "-c", str(collector_cfg)), logs / "collector.log"),
        Child("simulator", sim_cmd, logs / "simulator.log"),
    ]


def _banner(
    run_dir: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    metrics_port: int,
    children: list[Child],
) -> None:
    print(
        f"""
heatwatch is running (Ctrl-C stops everything)
  MQTT broker      mqtt://{broker.host}:{broker.port}
                   mosquitto_sub -p {broker.port} -t 'heat/#' -v
  InfluxDB         {influx.url}   database '{DATABASE}'
                   curl -G {influx.url}/query --data-urlencode db={DATABASE} \\
                     --data-urlencode "q=SELECT last(supply_temp) FROM telemetry GROUP BY station"
  collector        http://127.0.0.1:{metrics_port}/metrics
  run directory    {run_dir}  (configs, logs/, spool/, rejected.jsonl, ground_truth.jsonl)
  services         {", ".join(c.name for c in children)}
""",
        flush=True,
    )


def _status(influx: InfluxServer, children: list[Child]) -> None:
    counts = []
    for measurement, fld in (("telemetry", "supply_temp"), ("meter", "indoor_temp")):
        try:
            counts.append(f"{measurement}={influx.count(measurement, fld, db=DATABASE)}")
        except (ServerError, OSError) as exc:
            counts.append(f"{measurement}=? ({exc})")
    alive = " ".join(f"{c.name}:{'up' if c.alive() else 'DOWN'}" for c in children)
    print(f"{time.strftime('%H:%M:%S')} stored {' '.join(counts)} | {alive}", flush=True)
