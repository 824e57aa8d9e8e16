"""``heatwatch run``: the main job. A simulated fleet monitored end to end on this machine.

It starts Mosquitto and InfluxDB on loopback under a run directory, then the heatwatch services
as child processes (each with the same config files a real deployment would use, written into the
run directory so a newcomer can read them), prints where to look, and keeps going until Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import yaml
from pydantic import ValidationError

from alerts.notify.webhook import WebhookConfig
from alerts.settings import AlertsSettings, NotifySettings
from alerts.settings import MetricsSettings as AlertsMetrics
from api.config import ApiKey, ApiSettings, ServerSettings
from collector.config import CollectorSettings, DeadLetterSettings, SpoolSettings
from collector.config import MetricsSettings as CollectorMetrics
from forecast.settings import ForecastSettings, MqttInputSettings, StoreSettings
from heatwatch.local.alert_console import AlertConsole
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, ServerError, free_port
from heatwatch.retention import RetentionSettings

DATABASE = "heatwatch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--run-dir", type=Path, default=Path("run"), help="where servers keep data and logs")
    add("--mqtt-port", type=int, default=1883, help="broker port (a free one if taken; 0: any)")
    add("--influx-port", type=int, default=8086, help="InfluxDB port (a free one if taken)")
    add("--metrics-port", type=int, default=9101, help="collector /metrics (alerts: next one)")
    add("--api-port", type=int, default=8080, help="REST API and operator page")
    add("--scenario", default="demo", help="simulator scenario: file or shipped name")
    add("--stations", type=int, default=None, help="override the scenario's station count")
    add("--status-every", type=float, default=30.0, help="seconds between status lines")
    add("--raw-retention", default="90d",
        help="how long raw readings are kept (InfluxDB duration: 90d, 12w, INF)")
    add("--hourly-retention", default="260w",
        help="how long the hourly means kept by continuous queries are kept")


def _port_or_free(port: int) -> int:
    if port == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class _Stop(Exception):
    """Raised from the signal handler to leave the main loop."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(args: argparse.Namespace) -> int:
    try:
        retention = RetentionSettings(raw_duration=args.raw_retention,
                                      hourly_duration=args.hourly_retention)
    except ValidationError as exc:
        print(f"heatwatch run: --raw-retention/--hourly-retention: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return 2
    run_dir: Path = args.run_dir.resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    ports = {
        "mqtt": _port_or_free(args.mqtt_port),
        "influx": _port_or_free(args.influx_port),
        "collector_metrics": _port_or_free(args.metrics_port),
        "alerts_metrics": _port_or_free(args.metrics_port + 1 if args.metrics_port else 0),
        "api": _port_or_free(args.api_port),
    }
    api_key = _new_api_key(run_dir)
    broker = MosquittoServer(run_dir / "mosquitto", port=ports["mqtt"])
    influx = InfluxServer(run_dir / "influxdb", port=ports["influx"])
    console = AlertConsole()
    children: list[Child] = []
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        broker.start()
        influx.start()
        influx.create_database(DATABASE, retention)
        console.start()
        children = _plan_children(args, run_dir, broker, influx, ports, console.url, api_key)
        for child in children:
            child.start()
        _banner(run_dir, broker, influx, ports, children, api_key)
        while True:
            time.sleep(args.status_every)
            _status(influx, children, console)
            dead = [c for c in children if not c.alive()]
            if dead:
                names = ", ".join(f"{c.name} (see {c.log_path})" for c in dead)
                print(f"heatwatch run: stopped because a service exited: {names}", flush=True)
                return 1
    except _Stop as stop:
        print(f"\nheatwatch run: {stop}, shutting down", flush=True)
        return 0
    except (ServerError, subprocess.CalledProcessError) as exc:
        print(f"heatwatch run: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for child in reversed(children):
            child.stop()
        console.stop()
        influx.stop()
        broker.stop()


def _new_api_key(run_dir: Path) -> str:
    """A fresh admin key for this run's API (no well-known key, even on a demo machine); the
    API gets only its SHA-256, the operator gets the key on screen and in api-key.txt."""
    key = "hw_" + secrets.token_urlsafe(32)
    path = run_dir / "api-key.txt"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _plan_children(
    args: argparse.Namespace,
    run_dir: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    ports: dict[str, int],
    hook_url: str,
    api_key: str,
) -> list[Child]:
    logs = run_dir / "logs"
    registry = run_dir / "registry.yaml"
    sim_cmd = heatwatch_argv(
        "simulate",
        "--scenario", str(args.scenario),
        "--mqtt-host", broker.host,
        "--mqtt-port", str(broker.port),
        "--write-registry", str(registry),
        "--ground-truth", str(run_dir / "ground_truth.jsonl"),
    )  # fmt: skip
    if args.stations is not None:
        sim_cmd += ["--stations", str(args.stations)]
    # The registry must exist before the collector and the engine read it: write it first.
    subprocess.run([*sim_cmd, "--registry-only"], check=True, stdout=subprocess.DEVNULL)
    collector_cfg = write_settings(run_dir / "collector.yaml", CollectorSettings(
        mqtt=broker.settings("heatwatch-collector"),
        influx=influx.settings(DATABASE, transport="v1"),
        registry=registry,
        spool=SpoolSettings(dir=run_dir / "spool"),
        dead_letter=DeadLetterSettings(file=run_dir / "rejected.jsonl"),
        metrics=CollectorMetrics(host="127.0.0.1", port=ports["collector_metrics"]),
    ))
    # The simulator publishes weather forecasts (scenario forecast.enabled); the alert engine
    # reads and stores them (docs/forecast.md).
    forecast_cfg = run_dir / "forecast.yaml"
    forecast = ForecastSettings(mqtt=MqttInputSettings(enabled=True),
                                store=StoreSettings(enabled=True))
    forecast_cfg.write_text(yaml.safe_dump(
        forecast.model_dump(mode="json", exclude_unset=True), sort_keys=False))
    alerts_cfg = write_settings(run_dir / "alerts.yaml", AlertsSettings(
        mqtt=broker.settings("heatwatch-alerts"),
        influx=influx.settings(DATABASE, transport="v1"),
        registry=registry,
        forecast=forecast_cfg,
        state_db=run_dir / "alerts.db",
        notifications=NotifySettings(webhooks={"console": WebhookConfig(
            url=hook_url, external_url=f"http://127.0.0.1:{ports['api']}")}),
        metrics=AlertsMetrics(host="127.0.0.1", port=ports["alerts_metrics"]),
    ))
    api_cfg = write_settings(run_dir / "api.yaml", ApiSettings(
        server=ServerSettings(host="127.0.0.1", port=ports["api"]),
        keys=(ApiKey(name="run-admin", role="admin",
                     sha256=hashlib.sha256(api_key.encode()).hexdigest()),),
        alerts_db=run_dir / "alerts.db",
        mqtt=broker.settings("heatwatch-api"),
        influx=influx.settings(DATABASE, transport="v1"),
        registry=registry,
    ))
    return [
        Child("collector", heatwatch_argv("collect", "-c", str(collector_cfg)),
              logs / "collector.log"),
        Child("api", heatwatch_argv("api", "-c", str(api_cfg)), logs / "api.log"),
        Child("alerts", heatwatch_argv("alerts", "-c", str(alerts_cfg)), logs / "alerts.log"),
        Child("simulator", sim_cmd, logs / "simulator.log"),
    ]


def _banner(
    run_dir: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    ports: dict[str, int],
    children: list[Child],
    api_key: str,
) -> None:
    print(
        f"""
heatwatch is running (Ctrl-C stops everything)
  MQTT broker      mqtt://{broker.host}:{broker.port}
                   mosquitto_sub -p {broker.port} -t 'heat/#' -v
  InfluxDB         {influx.url}   database '{DATABASE}'
                   curl -G {influx.url}/query --data-urlencode db={DATABASE} \\
                     --data-urlencode "q=SELECT last(supply_temp) FROM telemetry GROUP BY station"
  operator page    http://127.0.0.1:{ports["api"]}/   (key: {api_key}, also in api-key.txt)
  REST API         http://127.0.0.1:{ports["api"]}/api/v1/docs
  alerts           printed here as they fire and resolve; state in alerts.db
  metrics          collector http://127.0.0.1:{ports["collector_metrics"]}/metrics
                   alerts    http://127.0.0.1:{ports["alerts_metrics"]}/metrics
  run directory    {run_dir}  (configs, logs/, spool/, rejected.jsonl, ground_truth.jsonl)
  services         {", ".join(c.name for c in children)}
""",
        flush=True,
    )


def _status(influx: InfluxServer, children: list[Child], console: AlertConsole) -> None:
    counts = []
    for measurement, fld in (("telemetry", "supply_temp"), ("meter", "indoor_temp")):
        try:
            counts.append(f"{measurement}={influx.count(measurement, fld, db=DATABASE)}")
        except (ServerError, OSError) as exc:
            counts.append(f"{measurement}=? ({exc})")
    alive = " ".join(f"{c.name}:{'up' if c.alive() else 'DOWN'}" for c in children)
    print(
        f"{time.strftime('%H:%M:%S')} stored {' '.join(counts)} | "
        f"notifications {console.received} | {alive}",
        flush=True,
    )
