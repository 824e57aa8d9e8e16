"""What the alert benchmarks share: the rules an operator of the simulated fleet would deploy,
the registry of that fleet, the replay of a scenario through decoder and engine, and the
markdown sections in docs/benchmarks.md that each benchmark regenerates on its own.

The replay is the in-process path of the live service (whose ``clock: event`` mode runs the
same through MQTT: bench/detection.py --mqtt): the simulator's wire-format messages are decoded by
``heatwatch.wire.Decoder`` and observed by ``alerts.engine.Engine`` exactly as the service's
engine thread does, with the simulated clock in place of the wall clock. Messages of one
reporting step are delivered in one-second slices by device phase and the engine evaluates
after each slice, as the service does with ``evaluate_interval_s: 1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alerts.config import RulesConfig
from alerts.engine import Engine
from alerts.model import AlertEvent, EventKind
from alerts.store import Store
from heatwatch.registry import Registry
from heatwatch.wire import Decoder
from simulators.layout import Layout, registry_data
from simulators.runner import Simulation
from simulators.scenario import SimulatorSettings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
SLICES = 10  # evaluations per 10 s reporting step: evaluate_interval_s = 1
TRUTH_BUCKET_S = 900.0  # resolution of the flats' true-temperature record


def operator_rules(cfg: SimulatorSettings, **extra: Any) -> RulesConfig:
    """The rules file an operator of this fleet would deploy: the shipped defaults, with the
    plant's own weather curve, time zone and night setback (a rules file that disagreed with
    the plant's controller would measure the configuration, not the engine)."""
    ctl = cfg.control
    offset = cfg.weather.utc_offset_h
    heating: dict[str, Any] = {"timezone": f"Etc/GMT{-int(offset):+d}"}
    if ctl.night_setback is not None:
        nb = ctl.night_setback
        heating.update(
            setback_start=f"{int(nb.start_hour):02d}:{int(nb.start_hour % 1 * 60):02d}",
            setback_end=f"{int(nb.end_hour):02d}:{int(nb.end_hour % 1 * 60):02d}",
            setback_k=nb.delta,
        )
    curve = [{"outdoor_c": o, "supply_c": s} for o, s in ctl.curve]
    data: dict[str, Any] = {
        "defaults": {"heating": heating, "supply_below_curve": {"curve": curve}},
    }
    for key, value in extra.items():
        data["defaults"].setdefault(key, {}).update(value)
    return RulesConfig.model_validate(data)


def fleet_registry(layout: Layout, interval_s: float) -> Registry:
    data = registry_data(layout)
    for st in data["stations"]:
        st["report_interval_s"] = interval_s
    return Registry.model_validate(data)


@dataclass(slots=True)
class Incident:
    """One alert incident as the receivers saw it (firing; resolved if it did)."""

    rule: str
    subject: str
    station: str | None
    zone: str | None
    fired_at: float
    active_at: float  # when the condition was first seen (pending began)
    resolved_at: float | None = None
    # flat_cold: the flat's lowest true (simulated, not sensor) indoor temperature while the
    # rule held it cold, so a scorer can tell a cold flat from a warm one its sensor reads low
    true_low: float | None = None


class FlatTruth:
    """Each flat's lowest true indoor temperature per :data:`TRUTH_BUCKET_S`, as simulated.

    The engine only sees sensors (bias sigma 0.4 K, noise); the benchmark needs to know what
    the flat really was. float32 per flat and bucket: 100 stations of 70 flats for ten days
    is under 3 MB."""

    def __init__(self, start: float, n_flats: int) -> None:
        self.start = start
        self.buckets: list[np.ndarray] = []
        self.n = n_flats

    def add(self, t: float, indoor: np.ndarray) -> None:
        k = int((t - self.start) // TRUTH_BUCKET_S)
        while len(self.buckets) <= k:
            self.buckets.append(np.full(self.n, np.inf, dtype=np.float32))
        np.minimum(self.buckets[k], indoor, out=self.buckets[k])

    def low(self, flat: int, t0: float, t1: float) -> float | None:
        """Lowest true temperature of ``flat`` in the buckets overlapping ``[t0, t1]``."""
        a = max(0, int((t0 - self.start) // TRUTH_BUCKET_S))
        b = min(len(self.buckets) - 1, int((t1 - self.start) // TRUTH_BUCKET_S))
        if b < a:
            return None
        value = min(float(self.buckets[k][flat]) for k in range(a, b + 1))
        return value if math.isfinite(value) else None


@dataclass(slots=True)
class Replay:
    incidents: list[Incident] = field(default_factory=list)
    readings: int = 0
    messages: int = 0
    simulated_s: float = 0.0
    engine_s: float = 0.0  # CPU seconds in decode + observe + evaluate


class SimClock:
    """The simulated time, shared by decoder (future-timestamp check) and engine."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def replay(
    cfg: SimulatorSettings,
    rules: RulesConfig,
    state_db: Path,
    *,
    progress: Callable[[float], None] | None = None,
) -> Replay:
    """Run ``cfg`` through decoder and engine; return every incident that fired."""
    import time

    sim = Simulation(cfg)
    lay = sim.fleet.layout
    interval = cfg.reporting.station_interval_s
    clock = SimClock(sim.fleet.start)
    store = Store(state_db)
    engine = Engine(rules, store, clock, registry=fleet_registry(lay, interval))
    decoder = Decoder(prefix=cfg.mqtt.prefix, clock=clock)
    out = Replay()
    open_: dict[str, Incident] = {}
    truth = FlatTruth(sim.fleet.start, lay.n_flats)
    flat_index = {meter: j for j, meter in enumerate(lay.flat_ids)}
    width = interval / SLICES

    def feed(topic: str, payload: bytes, at: float) -> None:
        decoded = decoder.decode(topic, payload)
        for reading in decoded.readings:
            engine.observe(reading, at)
        out.readings += len(decoded.readings)
        out.messages += 1

    def collect(events: list[AlertEvent]) -> None:
        for ev in events:
            a = ev.alert
            if ev.kind is EventKind.FIRING:
                inc = Incident(a.rule, a.subject, a.station, a.zone, ev.ts, a.active_at)
                j = flat_index.get(a.subject)
                if a.rule == "flat_cold" and j is not None:
                    since = float(a.annotations.get("cold_since", a.active_at))
                    inc.true_low = truth.low(j, since, ev.ts)
                open_[a.id] = inc
                out.incidents.append(inc)
            elif ev.kind is EventKind.RESOLVED and a.id in open_:
                open_.pop(a.id).resolved_at = ev.ts

    cpu0 = time.process_time()
    sim_cpu = 0.0
    try:
        for s in range(lay.n_stations):  # retained "online" for everyone at start
            m = sim.encoder.status(s, True)
            feed(m.topic, m.payload, sim.fleet.start)
        frames: Iterator[Any] = iter(sim.frames())
        while True:
            c0 = time.process_time()
            try:
                frame, status, data = next(frames)
            except StopIteration:
                break
            sim_cpu += time.process_time() - c0
            t = frame.t
            clock.t = t
            truth.add(t, sim.fleet.flats.indoor)
            for g in frame.gateways_down:  # socket killed: the broker publishes the will
                lead = int(lay.gateway_stations(g)[0])
                m = sim.encoder.status(lead, False)
                feed(m.topic, m.payload, t)
            for m in status:
                feed(m.topic, m.payload, t)
            if frame.gateways_up:  # reconnected gateway: `online` for its reporting stations
                reporting = set(frame.stations.tolist())
                for g in frame.gateways_up:
                    for s in lay.gateway_stations(g).tolist():
                        if s in reporting:
                            m = sim.encoder.status(s, True)
                            feed(m.topic, m.payload, t)
            data.sort(key=lambda m: m.delay)
            i = 0
            for k in range(1, SLICES + 1):
                edge = k * width if k < SLICES else float("inf")
                while i < len(data) and data[i].delay < edge:
                    m = data[i]
                    clock.t = t + m.delay
                    feed(m.topic, m.payload, t + m.delay)
                    i += 1
                clock.t = t + k * width
                collect(engine.evaluate(clock.t))
            if progress is not None:
                progress(t - sim.fleet.start)
        out.simulated_s = clock.t - sim.fleet.start
    finally:
        store.close()
    out.engine_s = time.process_time() - cpu0 - sim_cpu
    return out


# -- docs/benchmarks.md sections ------------------------------------------------------------


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) ``<!-- bench:name -->`` ... ``<!-- /bench:name -->`` in the doc,
    so each benchmark regenerates its own part and leaves the others alone."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
