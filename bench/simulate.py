"""Simulator scale benchmark: can one process drive a whole city on less than one core?

Target (issue "Simulators"): 20,000 stations reporting every 10 s and 400,000 flats every 5 min
in real time on less than one core. Real time needs ``cpu seconds / simulated seconds < 1``, so
we run a stretch of simulated time flat out and report that ratio ("CPU share"), split into the
vectorised model step and the per-reading payload encoding (the part that scales per message).
With ``--mqtt`` the same fleet is also published to a real Mosquitto (heatwatch.local.servers) over
QoS 1 gateway connections, which adds paho's per-message cost.

    .venv/bin/python bench/simulate.py                      # 20k stations, 400k flats, 10 min
    .venv/bin/python bench/simulate.py --mqtt --mqtt-minutes 2
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heatwatch.local.servers import MosquittoServer
from simulators.publisher import MqttSink
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings


def _settings(args: argparse.Namespace, minutes: float, port: int = 1883) -> SimulatorSettings:
    return SimulatorSettings.model_validate({
        "seed": 1,
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": "bench-sim"},
        "time": {"duration": minutes * 60.0},
        "fleet": {
            "stations": args.stations,
            "flats_per_station": [args.flats // 2, args.flats * 3 // 2],
            "stations_per_gateway": args.stations_per_gateway,
        },
        "reporting": {"max_inflight": 1000},
    })


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generate(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation(_settings(args, args.minutes))
    lay = sim.fleet.layout
    _ = sim.encoder.meter_topics  # build once, outside the timed loop
    build_s = time.perf_counter() - t0
    rows.append(("fleet", f"{lay.n_stations:,} stations, {lay.n_flats:,} flats", "", ""))
    rows.append(("build fleet (layout, params, topics)", f"{build_s:.1f}", "s", ""))
    rows.append(("memory after build (max RSS)", f"{_rss_mb():.0f}", "MiB", ""))
    steps = round(args.minutes * 60 / sim.fleet.dt)
    model_s = encode_s = 0.0
    n_station = n_flat = n_bytes = 0
    c0 = time.process_time()
    for _ in range(steps):
        a = time.process_time()
        frame = sim.fleet.step()
        b = time.process_time()
        _, data = sim.encode(frame)
        c = time.process_time()
        model_s += b - a
        encode_s += c - b
        n_station += frame.stations.size
        n_flat += frame.flats.size
        n_bytes += sum(len(m.payload) for m in data)
    cpu = time.process_time() - c0
    simulated = steps * sim.fleet.dt
    readings = n_station + n_flat
    rows += [
        ("simulated time", f"{simulated:.0f}", "s", ""),
        ("readings generated", f"{readings:,}", "", f"{n_station:,} station + {n_flat:,} flat"),
        ("readings per simulated second", f"{readings / simulated:,.0f}", "/s", "2,000 + 1,333"),
        ("generation speed (flat out)", f"{readings / cpu:,.0f}", "readings/s CPU", ""),
        ("model step (vectorised)", f"{model_s / steps * 1000:.1f}", "ms/step",
         f"{model_s / simulated:.3f} core"),
        ("payload encoding per reading", f"{encode_s / readings * 1e6:.2f}", "µs",
         f"{encode_s / simulated:.3f} core"),
        ("mean payload size", f"{n_bytes / readings:.0f}", "bytes", ""),
        ("CPU share generation+encoding", f"{cpu / simulated:.3f}", "cores",
         "target < 1 (real time on < 1 core)"),
        ("memory (max RSS)", f"{_rss_mb():.0f}", "MiB", ""),
    ]
    return rows


def publish(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        broker = MosquittoServer(Path(tmp))
        broker.start()
        try:
            sim = Simulation(_settings(args, args.mqtt_minutes, broker.port))
            _ = sim.encoder.meter_topics
            sink = MqttSink(sim.fleet.layout, sim.settings.mqtt, max_inflight=1000)
            b0 = _proc_cpu_s(broker.pid or 0)
            try:
                stats = sim.run(sink)
                drain0 = time.perf_counter()
                sink.drain(120)
                drain_s = time.perf_counter() - drain0
            finally:
                sink.close()
            broker_cpu = _proc_cpu_s(broker.pid or 0) - b0
        finally:
            broker.stop()
    msgs = stats.station_messages + stats.flat_messages + stats.status_messages
    return [
        ("MQTT gateways (QoS 1, max_inflight 1000)",
         f"{len(sim.fleet.layout.gateway_ids)}", "connections", ""),
        ("published (flat out)", f"{msgs:,}", "messages",
         f"{stats.simulated_s:.0f} s simulated"),
        ("publish throughput", f"{msgs / (stats.wall_s + drain_s):,.0f}", "msg/s wall", ""),
        ("CPU share generation+encoding+publish", f"{stats.cpu_s / stats.simulated_s:.3f}",
         "cores", "target < 1"),
        ("Mosquitto CPU share", f"{broker_cpu / stats.simulated_s:.3f}", "cores",
         "separate process"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=20_000)
    ap.add_argument("--flats", type=int, default=20, help="mean flats per station")
    ap.add_argument("--minutes", type=float, default=10.0, help="simulated minutes (generation)")
    ap.add_argument("--stations-per-gateway", type=int, default=500)
    ap.add_argument("--mqtt", action="store_true", help="also publish to a real Mosquitto")
    ap.add_argument("--mqtt-minutes", type=float, default=2.0)
    args = ap.parse_args()
    print(f"# bench/simulate.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    rows = generate(args)
    if args.mqtt:
        rows += publish(args)
    width = max(len(r[0]) for r in rows)
    for name, value, unit, note in rows:
        print(f"{name:<{width}}  {value:>16} {unit:<16} {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
