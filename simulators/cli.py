"""``heatwatch simulate``: run a scenario against MQTT, a JSONL file, or just the registry.

Flags override the scenario file for the things people change between runs (size, time mode,
seed, broker, outputs) and ``--fault`` adds faults without editing YAML:
``--fault leak:st-00003:2h:6h:0.04`` or ``--fault pump_trip:zone=tiexi:1h:3h``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from heatwatch.logs import configure, level_for
from heatwatch.settings import ConfigError
from simulators.layout import write_registry
from simulators.publisher import FileSink, MqttSink, PublishError, Sink
from simulators.runner import Simulation
from simulators.scenario import SCENARIO_DIR, load_scenario

__all__ = ["add_arguments", "main", "parse_fault"]

log = logging.getLogger("simulators")


def parse_fault(text: str) -> dict[str, Any]:
    """``KIND:TARGET:START:DURATION[:SIZE]``.

    TARGET is a station id, ``zone=Z`` or ``gateway=G``; for sensor faults SIZE may name the
    field instead.
    """
    parts = text.split(":")
    if not 4 <= len(parts) <= 5:
        raise argparse.ArgumentTypeError(
            f"--fault {text!r}: expected KIND:TARGET:START:DURATION[:SIZE]"
        )
    kind, target, start, duration = parts[:4]
    spec: dict[str, Any] = {"kind": kind, "start": start, "duration": duration}
    if "=" in target:
        key, _, value = target.partition("=")
        if key not in ("zone", "gateway", "station"):
            raise argparse.ArgumentTypeError(f"--fault {text!r}: target must be zone=, gateway=")
        spec[key] = value
    else:
        spec["station"] = target
    if len(parts) == 5:
        try:
            spec["size"] = float(parts[4])
        except ValueError:
            if kind.startswith("sensor_"):
                spec["field"] = parts[4]
            else:
                msg = f"--fault {text!r}: size must be a number"
                raise argparse.ArgumentTypeError(msg) from None
    return spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scenarios = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
    parser.add_argument(
        "-c", "--config", "--scenario", dest="scenario", type=str, default=None,
        help=f"scenario YAML file or shipped name ({scenarios}); without it: the "
        "normal_week fleet in real time until stopped",
    )
    parser.add_argument("--seed", type=int, help="random seed (same seed -> same readings)")
    parser.add_argument("--stations", type=int, help="number of stations")
    parser.add_argument("--flats", type=str, help="flats per station: N or MIN-MAX")
    parser.add_argument("--stations-per-gateway", type=int)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--realtime", action="store_true", help="wall-clock time")
    mode.add_argument("--speed", type=float, help="simulated time N times faster than wall clock")
    mode.add_argument("--fast", action="store_true", help="as fast as possible (accelerated)")
    parser.add_argument("--duration", type=str, help="e.g. 24h, 7d; 0 = forever (realtime)")
    parser.add_argument("--start", type=str, help="simulated start, RFC 3339 with offset")
    parser.add_argument("--fault", action="append", type=parse_fault, default=[],
                        metavar="KIND:TARGET:START:DURATION[:SIZE]", help="add a fault")
    parser.add_argument("--ground-truth", type=Path, help="JSONL file of injected faults")
    parser.add_argument("--write-registry", type=Path, metavar="PATH",
                        help="write the fleet's station registry YAML (then run unless --no-run)")
    parser.add_argument("--no-run", "--registry-only", dest="no_run", action="store_true",
                        help="only write outputs (registry), do not run")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write messages as JSON lines instead of publishing to MQTT")
    parser.add_argument("--host", "--mqtt-host", dest="host", type=str, help="MQTT broker host")
    parser.add_argument("--port", "--mqtt-port", dest="port", type=int, help="MQTT broker port")
    parser.add_argument("--batch", type=int, help="readings per payload (JSON array)")


def _scenario_path(name: str | None) -> Path | None:
    if name is None:
        return None
    p = Path(name)
    if not p.exists() and (SCENARIO_DIR / f"{name}.yaml").exists():
        return SCENARIO_DIR / f"{name}.yaml"
    return p


def _raw_scenario(path: Path | None) -> dict[str, Any]:
    """The file as written (not a model dump, which would mask secrets such as the MQTT
    password), so CLI overrides can be merged into its blocks. Errors are left to
    :func:`load_scenario`, which reports them precisely."""
    p = path or SCENARIO_DIR / "normal_week.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _overrides(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """Nested dict of CLI overrides merged over the file's blocks."""

    def block(name: str) -> dict[str, Any]:
        value = base.get(name) or {}
        return dict(value)

    out: dict[str, Any] = {}
    if args.seed is not None:
        out["seed"] = args.seed
    fleet = block("fleet")
    if args.stations is not None:
        fleet["stations"] = args.stations
    if args.flats:
        lo, _, hi = args.flats.partition("-")
        fleet["flats_per_station"] = (int(lo), int(hi or lo))
    if args.stations_per_gateway is not None:
        fleet["stations_per_gateway"] = args.stations_per_gateway
    t = block("time")
    if args.scenario is None and not (args.realtime or args.fast or args.speed is not None):
        # No scenario at all: a live fleet on the wall clock until stopped (heatwatch run).
        t.update(mode="realtime", speed=None, duration=None)
    if args.realtime:
        t.update(mode="realtime", speed=None)
    elif args.speed is not None:
        t.update(mode="accelerated", speed=args.speed)
    elif args.fast:
        t.update(mode="accelerated", speed=None)
    if args.duration is not None:
        t["duration"] = None if args.duration in ("0", "forever") else args.duration
    if args.start is not None:
        t["start"] = args.start
    mqtt = block("mqtt")
    if args.host:
        mqtt["host"] = args.host
    if args.port:
        mqtt["port"] = args.port
    rep = block("reporting")
    if args.batch:
        rep["batch"] = args.batch
    output = block("output")
    if args.ground_truth:
        output["ground_truth"] = args.ground_truth
    for key, value in (("fleet", fleet), ("time", t), ("mqtt", mqtt), ("reporting", rep),
                       ("output", output)):
        if value:
            out[key] = value
    if args.fault:
        out["faults"] = [*(base.get("faults") or []), *args.fault]
    return out


def main(args: argparse.Namespace) -> int:
    configure(level_for(args, "INFO"))
    path = _scenario_path(args.scenario)
    try:
        settings = load_scenario(path, **_overrides(args, _raw_scenario(path)))
        sim = Simulation(settings)
    except (ConfigError, ValueError) as exc:
        print(f"heatwatch simulate: {exc}", file=sys.stderr)
        return 2
    layout = sim.fleet.layout
    registry = args.write_registry or settings.output.registry
    if registry is not None:
        write_registry(layout, registry)
        log.info("wrote registry of %d stations, %d flats to %s",
                 layout.n_stations, layout.n_flats, registry)
    if args.no_run:
        sim.fleet.close()
        return 0
    sink: Sink
    try:
        if args.output is not None:
            sink = FileSink(layout, args.output, settings.mqtt.prefix)
        else:
            rep = settings.reporting
            sink = MqttSink(layout, settings.mqtt, qos=rep.qos, max_inflight=rep.max_inflight)
    except (PublishError, OSError) as exc:
        print(f"heatwatch simulate: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    try:
        stats = sim.run(sink, stop)
    except PublishError as exc:
        print(f"heatwatch simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        sink.close()
    log.info(
        "simulated %.0f s in %.1f s wall (%.1f s CPU): %d station and %d flat messages, "
        "%d bytes; worst lag behind schedule %.1f s",
        stats.simulated_s, stats.wall_s, stats.cpu_s, stats.station_messages,
        stats.flat_messages, stats.payload_bytes, stats.behind_s,
    )
    return 0
