"""Alert engine at city scale: can one process keep up with 20,000 stations (every 10 s) and
400,000 flats (every 5 min) in real time, on at most 0.2 core, and with how much memory?

The simulator generates the city's wire-format messages step by step (not timed); message by
message, as the service's engine thread does, the same ``heatwatch.wire.Decoder`` the service
uses decodes each one (timed: the same-run baseline, since every consumer of the stream pays
it) and the engine observes its readings (timed); the engine evaluates every simulated second
as the service does with ``evaluate_interval_s: 1`` (timed). Engine = observe + evaluate.
Core share = CPU seconds / simulated seconds. Memory: RSS growth from just before the engine is
built to the end (windows, zone aggregates, tracks; the simulator's arrays exist before), the
process's peak RSS, and bytes per station and per flat measured with tracemalloc on full
histories (the run itself is shorter than the rate rings). MQTT receive cost (paho) is not
included: bench/alerts_latency.py runs that path.

Until 2026-11-30 a whole 10 s step of messages was decoded first and observed afterwards: its
~33,000 readings lived long enough to reach the oldest garbage-collector generation, and the
full collections that caused (~0.3 s each) were charged to decode and engine alike; the
service never holds more than the message in hand.

``pipeline.startup_grace_s`` is 0 so that the offline scan runs from the first second; the
first flat interval fills the zone aggregates, so the table also gives the steady state (the
second half of the run). Run: ``.venv/bin/python bench/alerts_scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alertbench import SLICES, SimClock, operator_rules, write_section
from common import Row, machine, machine_table, rss_mb, table

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.store import Store
from heatwatch.registry import Registry
from heatwatch.wire import Decoder, Kind, Reading
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

TARGET_CORE = 0.2


def scenario(stations: int, flats: tuple[int, int], minutes: float) -> SimulatorSettings:
    return SimulatorSettings.model_validate({
        "seed": 5,
        "time": {"start": "2026-01-12T08:00:00+08:00", "duration": minutes * 60},
        "fleet": {"stations": stations, "flats_per_station": list(flats),
                  "stations_per_gateway": 40},
        "control": {"night_setback": {"start_hour": 23, "end_hour": 5, "delta": 3}},
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke)")
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--flats", default="10-30", help="flats per station MIN-MAX")
    parser.add_argument("--minutes", type=float, default=8.0, help="simulated minutes")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    lo, hi = (int(x) for x in args.flats.split("-"))
    stations, minutes = (args.stations, args.minutes) if not args.quick else (200, 2.0)
    cfg = scenario(stations, (lo, hi), minutes)
    rules = operator_rules(cfg).model_copy(
        update={"pipeline": operator_rules(cfg).pipeline.model_copy(
            update={"startup_grace_s": 0.0})})

    load0 = os.getloadavg()[0]
    sim = Simulation(cfg)
    lay = sim.fleet.layout
    interval = cfg.reporting.station_interval_s
    registry = Registry.model_validate({"stations": [
        {"id": sid, "zone": lay.zone_of(i), "report_interval_s": interval}
        for i, sid in enumerate(lay.station_ids)
    ]})
    clock = SimClock(sim.fleet.start)
    decoder = Decoder(prefix=cfg.mqtt.prefix, clock=clock)
    pid = os.getpid()
    with tempfile.TemporaryDirectory(prefix="hw-scale-") as tmp:
        rss0 = rss_mb(pid)
        store = Store(Path(tmp) / "alerts.db")
        engine = Engine(rules, store, clock, registry=registry)
        decode_cpu = engine_cpu = half_engine = half_decode = 0.0
        readings = station_r = flat_r = 0
        evaluations = 0
        eval_s: list[float] = []
        samples: dict[Kind, Reading] = {}
        width = interval / SLICES
        half_at = sim.fleet.start + minutes * 30
        full_gc = [0, 0.0, 0.0]  # count, CPU seconds, start of the current one

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    full_gc[2] = time.process_time()
                else:
                    full_gc[0] += 1
                    full_gc[1] += time.process_time() - full_gc[2]

        gc.callbacks.append(on_gc)
        cpu = time.process_time  # CPU, not wall: a shared machine deschedules us
        wall0 = time.perf_counter()
        for frame, status, data in sim.frames():
            t = frame.t
            data.sort(key=lambda m: m.delay)
            msgs = [(m.topic, m.payload, t + m.delay) for m in status] + \
                   [(m.topic, m.payload, t + m.delay) for m in data]
            dc = ec = 0.0
            i, n = 0, len(msgs)
            for k in range(1, SLICES + 1):
                edge = t + k * width if k < SLICES else float("inf")
                while i < n and msgs[i][2] < edge:
                    topic, payload, at = msgs[i]
                    i += 1
                    clock.t = at
                    c0 = cpu()
                    rs = decoder.decode(topic, payload).readings
                    c1 = cpu()
                    for r in rs:
                        engine.observe(r, at)
                    c2 = cpu()
                    dc += c1 - c0
                    ec += c2 - c1
                    if rs:
                        readings += len(rs)
                        if rs[0].meter is None:
                            station_r += len(rs)
                        else:
                            flat_r += len(rs)
                        samples.setdefault(rs[0].kind, rs[0])
                clock.t = t + k * width
                e0 = cpu()
                engine.evaluate(clock.t)
                e1 = cpu()
                ec += e1 - e0
                eval_s.append(e1 - e0)
                evaluations += 1
            decode_cpu += dc
            engine_cpu += ec
            if t >= half_at:
                half_decode += dc
                half_engine += ec
        wall = time.perf_counter() - wall0
        gc.callbacks.remove(on_gc)
        del msgs
        gc.collect()
        rss1 = rss_mb(pid)
        open_alerts = len(engine.open_alerts())
        store.close()
        timer = _timer_cost(cpu)
    per_station, per_flat = unit_bytes(rules, samples)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    simulated = minutes * 60
    rest = sorted(eval_s[1:]) or [0.0]
    worst = rest[-1]
    p99 = rest[min(len(rest) - 1, int(0.99 * len(rest)))]
    core = engine_cpu / simulated
    core_half = half_engine / (simulated / 2)
    base = decode_cpu / simulated
    base_half = half_decode / (simulated / 2)
    rows = [
        Row(f"stations ({interval:.0f} s)", lay.n_stations, "stations"),
        Row(f"flats ({cfg.reporting.flat_interval_s / 60:.0f} min)", lay.n_flats, "flats"),
        Row("readings per simulated second", readings / simulated, "readings/s"),
        Row("decode only (baseline), whole run", base * 1000, "millicore"),
        Row("engine observe + evaluate, whole run", core * 1000, "millicore",
            f"<= {TARGET_CORE * 1000:.0f}", base * 1000, core <= TARGET_CORE),
        Row("engine observe + evaluate, 2nd half (steady)", core_half * 1000, "millicore",
            f"<= {TARGET_CORE * 1000:.0f}", base_half * 1000, core_half <= TARGET_CORE),
        Row("engine + decode, 2nd half (info)", (core_half + base_half) * 1000, "millicore"),
        Row("first evaluate() (whole fleet dirty at start)", eval_s[0] * 1000, "ms CPU"),
        Row("evaluate() after the first: p99", p99 * 1000, "ms CPU"),
        Row("evaluate() after the first: max", worst * 1000, "ms CPU",
            "< 1,000 (1 s interval)", None, worst < 1.0),
        Row("full (oldest generation) GC collections in the run", full_gc[0], "count"),
        Row("CPU in those collections (info)", full_gc[1] / simulated * 1000, "millicore"),
        Row("engine memory (RSS growth, after GC)", rss1 - rss0, "MB"),
        Row("per station, rate histories full (tracemalloc)", per_station, "bytes"),
        Row("per flat (tracemalloc)", per_flat, "bytes"),
        Row("engine at full histories: stations x per station + flats x per flat",
            (lay.n_stations * per_station + lay.n_flats * per_flat) / 2**20, "MB"),
        Row("process peak RSS (simulator included)", peak, "MB"),
    ]
    head = (f"{minutes:g} simulated minutes, {evaluations:,} evaluations, {readings:,} readings "
            f"({station_r:,} station, {flat_r:,} flat), {open_alerts} alerts open at the end, "
            f"{wall:.0f} s wall, load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} "
            f"at the end ({os.cpu_count()} cores); CPU clock read 3 times per message and "
            f"twice per evaluate() at {timer * 1e9:.0f} ns a read (about "
            f"{timer * (readings / simulated + SLICES / interval) * 1000:.1f} millicore of "
            f"each figure)")
    report = "\n".join([machine_table(machine()), "", table("alerts scale", rows), "", head])
    print(report)
    if args.write_doc:
        write_section("alerts_scale", DOC_HEAD + "\n" + report)
    return 0


def _timer_cost(cpu: Any, n: int = 200_000) -> float:
    """Seconds one read of the CPU clock costs (it is part of every timed section)."""
    c0 = cpu()
    for _ in range(n):
        cpu()
    return float(cpu() - c0) / n


def unit_bytes(rules: RulesConfig, samples: dict[Kind, Reading],
               stations: int = 300, flats: int = 20) -> tuple[float, float]:
    """Bytes the engine holds per station (rate rings full) and per flat, by tracemalloc.

    ``stations`` stations observed ``rules.history_len`` times with the run's own telemetry
    fields (values moved by up to 6e-9, so every float is its own object as on the wire
    without raising alerts), then ``flats`` flats each; evaluated once so dirty sets are
    empty and per-station plans exist. Open alerts at the end would make the figure wrong, so
    there must be none.
    """
    tele, meter = samples.get(Kind.TELEMETRY), samples.get(Kind.METER)
    if tele is None or meter is None:
        return 0.0, 0.0
    ids = [f"st-{i:05d}" for i in range(stations)]
    registry = Registry.model_validate({"stations": [
        {"id": sid, "zone": f"z{i % 10}", "report_interval_s": 10.0}
        for i, sid in enumerate(ids)]})
    with tempfile.TemporaryDirectory(prefix="hw-units-") as tmp:
        store = Store(Path(tmp) / "alerts.db")
        engine = Engine(rules, store, lambda: 0.0, registry=registry)
        t0 = 1.7e9
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for k in range(rules.history_len):
            for i, sid in enumerate(ids):
                fields = {name: (v + ((k + i) % 7) * 1e-9 if type(v) is float else v)
                          for name, v in tele.fields.items()}
                engine.observe(Reading(Kind.TELEMETRY, sid, int((t0 + 10 * k) * 1e9), fields))
        engine.evaluate(t0 + 10 * rules.history_len)
        gc.collect()
        mid = tracemalloc.get_traced_memory()[0]
        for i, sid in enumerate(ids):
            for j in range(flats):
                engine.observe(Reading(Kind.METER, sid, int(t0 * 1e9),
                                       {"indoor_temp": 20.0 + (i * flats + j) * 1e-4},
                                       meter=f"{meter.meter or 'f'}-{j:03d}"))
        engine.evaluate(t0 + 10 * rules.history_len + 1)
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert not engine.open_alerts(), "the probe's readings raised alerts"
        store.close()
    return (mid - base) / stations, (end - mid) / (stations * flats)


DOC_HEAD = """## Alert engine at city scale (bench/alerts_scale.py)

`.venv/bin/python bench/alerts_scale.py --write-doc`: the simulator's city (messages generated,
not timed), message by message as the service's engine thread does: decoded by
`heatwatch.wire.Decoder` (timed: the baseline) and observed by one `alerts.engine.Engine` with
its SQLite store (timed), which is evaluated every simulated second (timed). Engine = observe +
evaluate; core share = CPU seconds per simulated second; ratio = engine / decode of the same
run. The MQTT receive path (paho) is not included. `pipeline.startup_grace_s` is 0 so the
offline scan runs throughout; the second half is the steady state (every flat has reported).
Memory: RSS growth over the run (it includes the decoder's topic cache, ~18 MB when full, and
allocator memory freed but not returned), and the engine's own bytes per station with full
rate histories and per flat, by tracemalloc on 300 stations x 20 flats of the run's readings.
"""


if __name__ == "__main__":
    raise SystemExit(main())
