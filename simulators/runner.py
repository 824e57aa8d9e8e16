"""The time loop: step the fleet, encode, and hand messages to a sink on time.

* accelerated, no speed: as fast as possible with simulated timestamps (CI runs a day in
  seconds);
* accelerated with ``speed`` N: simulated time runs N times faster than the wall clock;
* realtime: speed 1 from "now"; each step's messages are spread over the reporting interval
  by every station's phase, as unsynchronised devices would send them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from simulators.fleet import Frame, SimFleet
from simulators.forecasts import ForecastPublisher, SimForecaster
from simulators.payloads import Delivery, Encoder, Message
from simulators.publisher import Sink
from simulators.scenario import SimulatorSettings

__all__ = ["RunStats", "Simulation"]

log = logging.getLogger(__name__)
_SLICES = 10  # send bursts per reporting interval in paced modes


@dataclass(slots=True)
class RunStats:
    steps: int = 0
    station_messages: int = 0
    flat_messages: int = 0
    status_messages: int = 0
    payload_bytes: int = 0
    simulated_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    behind_s: float = 0.0  # worst lag behind the schedule in paced modes
    by_kind: dict[str, int] = field(default_factory=dict)


class Simulation:
    """SimFleet + encoder + delivery faults + sink for one scenario."""

    def __init__(self, settings: SimulatorSettings, *, start: float | None = None) -> None:
        self.settings = settings
        self.fleet = SimFleet(settings, start=start)
        rep = settings.reporting
        self.encoder = Encoder(
            self.fleet.layout,
            prefix=settings.mqtt.prefix,
            ts_format=rep.ts_format,
            batch=rep.batch,
            flat_heat_meters=settings.fleet.flat_heat_meters,
            utc_offset_h=settings.weather.utc_offset_h,
        )
        self.delivery = Delivery(np.random.default_rng([settings.seed, 31337]))
        self.stats = RunStats()
        self._warned_lag = 0.0
        self.forecasts: ForecastPublisher | None = None
        if settings.forecast.enabled:
            zones = sorted(set(self.fleet.layout.zones))
            self.forecasts = ForecastPublisher(
                SimForecaster(self.fleet.weather, settings.forecast, settings.seed), zones,
                settings.mqtt.prefix, self.fleet.start)

    @property
    def speed(self) -> float | None:
        t = self.settings.time
        return 1.0 if t.mode == "realtime" else t.speed

    def frames(self) -> Iterator[tuple[Frame, list[Message], list[Message]]]:
        """(frame, status messages, data messages) for every step of the scenario, without a
        sink or pacing: the alert engine's detection benchmark replays a scenario this way.
        Gateway kills show up as ``frame.gateways_down`` (the broker would publish the will)."""
        fleet = self.fleet
        duration = self.settings.time.duration
        end = None if duration is None else fleet.start + duration
        t = fleet.start
        try:
            while end is None or t < end:
                frame = fleet.step(t)
                status, data = self.encode(frame)
                yield frame, status, data
                t += fleet.dt
        finally:
            fleet.close()

    def run(self, sink: Sink, stop: threading.Event | None = None) -> RunStats:
        stop = stop or threading.Event()
        fleet, st = self.fleet, self.stats
        duration = self.settings.time.duration
        end = None if duration is None else fleet.start + duration
        speed = self.speed
        wall0, cpu0 = time.monotonic(), time.process_time()
        t = fleet.start
        lay = fleet.layout
        for s in range(lay.n_stations):  # retained "online" for everyone at start
            sink.send([self.encoder.status(s, True)])
        try:
            while not stop.is_set() and (end is None or t < end):
                frame = fleet.step(t)
                for g in frame.gateways_down:
                    sink.gateway_down(g)
                status, data = self.encode(frame)
                sink.send(status)
                if self.forecasts is not None:
                    sink.send(self.forecasts.due(t))
                if frame.gateways_up:
                    reporting = set(frame.stations.tolist())
                    for g in frame.gateways_up:
                        stations = lay.gateway_stations(g).tolist()
                        sink.gateway_up(g, [s for s in stations if s in reporting])
                self._count(status, data)
                if speed is None:
                    sink.send(data)
                else:
                    self._paced(sink, data, t, fleet.start, wall0, speed, stop)
                st.steps += 1
                t += fleet.dt
            tail = self.encoder.flush() + self.delivery.drain()
            self._count([], tail)
            sink.send(tail)
            if self.settings.reporting.offline_on_exit:
                sink.send([self.encoder.status(s, False) for s in range(lay.n_stations)])
        finally:
            fleet.close()
        st.simulated_s = t - fleet.start
        st.wall_s = time.monotonic() - wall0
        st.cpu_s = time.process_time() - cpu0
        return st

    def encode(self, frame: Frame) -> tuple[list[Message], list[Message]]:
        """(status messages, data messages) for one frame, delivery faults applied."""
        enc = self.encoder
        status = [enc.status(int(s), False) for s in frame.went_offline]
        status += [enc.status(int(s), True) for s in frame.came_online]
        data = enc.station_messages(frame, self.fleet.station_phase)
        data += enc.flat_messages(frame, self.fleet.flat_phase)
        return status, self.delivery.shape(data, frame)

    def _count(self, status: list[Message], data: list[Message]) -> None:
        st = self.stats
        st.status_messages += len(status)
        for m in data:
            st.payload_bytes += len(m.payload)
            if "/meter/" in m.topic:
                st.flat_messages += 1
            else:
                st.station_messages += 1

    def _paced(
        self,
        sink: Sink,
        data: list[Message],
        t: float,
        start: float,
        wall0: float,
        speed: float,
        stop: threading.Event,
    ) -> None:
        dt = self.fleet.dt
        data.sort(key=lambda m: m.delay)
        width = dt / _SLICES
        i = 0
        for k in range(1, _SLICES + 1):
            j = i
            while j < len(data) and data[j].delay < k * width:
                j += 1
            due = wall0 + (t - start + (k - 1) * width) / speed
            wait = due - time.monotonic()
            if wait > 0:
                if stop.wait(wait):
                    return
            else:
                lag = -wait
                if lag > self._warned_lag + dt:  # one warning per interval of extra lag
                    self._warned_lag = lag
                    log.warning("%.0f s behind schedule (machine or broker too slow)", lag)
                self.stats.behind_s = max(self.stats.behind_s, lag)
            sink.send(data[i:j])
            i = j
        if i < len(data):
            sink.send(data[i:])
