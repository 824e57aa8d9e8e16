"""The fleet: weather + stations + flats + faults, advanced one reporting step at a time.

``SimFleet(config, seed).step(t)`` returns a :class:`Frame` of plain numpy arrays (what every
non-silent station and every flat due this step would report) so that the MQTT simulator, the
benchmarks and the alert engine's detection benchmark all consume the same model without MQTT.
Random streams are split by purpose (layout, physics, sensors, faults) from one seed, so the
same seed and scenario give identical readings, and adding a fault does not reshuffle the fleet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simulators.faults import FLAT_FIELDS, PARTY_UA, Active, Fault, FaultSchedule
from simulators.flats import K_WATER, FlatModel
from simulators.layout import Layout, build_layout
from simulators.model import StationModel
from simulators.regimes import Regimes
from simulators.scenario import SimulatorSettings
from simulators.weather import Weather

__all__ = ["Frame", "SimFleet"]

F64 = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
_RANGES = {
    "indoor_temp": (-30.0, 60.0),
    "humidity": (0.0, 100.0),
    "supply_pressure": (-1.0, 25.0),
    "return_pressure": (-1.0, 25.0),
    "primary_supply_pressure": (-1.0, 25.0),
    "primary_return_pressure": (-1.0, 25.0),
    "outdoor_temp": (-50.0, 60.0),
}
_WATER = (-50.0, 200.0)
_RANGES["supply_setpoint"] = _WATER


@dataclass(slots=True)
class Frame:
    """One step's output; station/flat value arrays are aligned with ``stations``/``flats``."""

    t: float
    index: int
    stations: IntArray
    station_ts: F64  # epoch seconds as the station's clock stamps them
    station_seq: IntArray
    station_values: dict[str, F64]
    pump_running: B
    power_ok: B
    has_setpoint: B  # station reports supply_setpoint (aligned with ``stations``)
    has_pump: B  # station reports pump_running
    flats: IntArray
    flat_ts: F64
    flat_seq: IntArray
    flat_values: dict[str, F64]
    went_offline: IntArray  # stations to announce offline (retained) now
    came_online: IntArray
    gateways_down: list[int] = field(default_factory=list)  # gateway sockets to kill now
    gateways_up: list[int] = field(default_factory=list)
    delivery: list[Fault] = field(default_factory=list)


class SimFleet:
    """Simulated stations and flats for one scenario."""

    def __init__(
        self,
        config: SimulatorSettings,
        seed: int | None = None,
        *,
        start: float | None = None,
        ground_truth: Path | None = None,
    ) -> None:
        self.config = config
        self.seed = config.seed if seed is None else seed
        self.start = config.start_epoch(time.time()) if start is None else start
        # a sixth stream for the regimes: spawn(6) keeps the first five streams as they were
        streams = np.random.SeedSequence(self.seed).spawn(6)
        lay_rng, flat_rng, st_rng, self._noise, self._fault_rng, regime_rng = (
            np.random.default_rng(s) for s in streams
        )
        self.layout: Layout = build_layout(config.fleet, lay_rng)
        self.weather = Weather(config.weather, self.seed, self.start)
        self.flats = FlatModel(self.layout, config.fleet, config.control, flat_rng)
        self.regimes = Regimes.resolve(config.regimes, config.control, self.layout, regime_rng)
        self.stations = StationModel(
            self.layout,
            config.control,
            self.flats.station_q_design,
            st_rng,
            self.regimes,
            regime_rng,
        )
        truth = ground_truth if ground_truth is not None else config.output.ground_truth
        self.schedule = FaultSchedule(config.faults, self.layout, self.start, truth)
        rep = config.reporting
        self.dt = rep.station_interval_s
        self.flat_every = round(rep.flat_interval_s / self.dt)
        n, m = self.layout.n_stations, self.layout.n_flats
        self.station_phase: F64 = st_rng.uniform(0.0, self.dt, n)
        self.flat_phase: F64 = flat_rng.uniform(0.0, self.dt, m)
        slot = flat_rng.integers(0, self.flat_every, m)
        self._flat_order: IntArray = np.argsort(slot, kind="stable").astype(np.int64)
        self._flat_bounds = np.searchsorted(slot[self._flat_order], np.arange(self.flat_every + 1))
        self.seq: IntArray = np.zeros(n, np.int64)
        self.flat_seq: IntArray = np.zeros(m, np.int64)
        self._offline: B = np.zeros(n, bool)
        self._gateways_down: frozenset[int] = frozenset()
        self._t: float | None = None
        self._index = 0
        self.active: Active | None = None  # the faults of the last step (ground truth)
        self._settle(self.start)

    def _settle(self, t: float) -> None:
        st, fl = self.stations, self.flats
        st.initialise(self.weather.temperature(t), self.weather.local_hours(t))
        for _ in range(3):
            fl.settle(st.mean_temp(), st.flow_ratio(), st.ntu_design, st.outdoor)
            heat = fl.radiator_heat(st.mean_temp(), st.flow_ratio(), st.ntu_design)
            drawn = np.bincount(fl.station, weights=heat, minlength=st.n) * 1.03
            st.tr = st.ts - drawn / (K_WATER * st.flow)
        st.tpr = st.tr + st.approach
        st.heat = K_WATER * st.flow * (st.ts - st.tr)
        st.primary_flow = st.heat / 0.98 / (K_WATER * np.maximum(st.tps - st.tpr, 2.0))

    @property
    def t(self) -> float | None:
        """Time of the last step (None before the first)."""
        return self._t

    def step(self, t: float | None = None) -> Frame:
        """Advance to ``t`` (default: one reporting interval on) and return what is reported."""
        if t is None:
            t = self.start if self._t is None else self._t + self.dt
        dt = 0.0 if self._t is None else t - self._t
        if dt < 0:
            raise ValueError("time cannot run backwards")
        self._t = t
        active = self.active = self.schedule.at(t)
        fx = active.effects
        st, fl = self.stations, self.flats
        # Long gaps (a paused real-time run) are integrated in sub-steps of one interval.
        steps = max(1, int(np.ceil(dt / self.dt))) if dt > 0 else 0
        for _ in range(steps):
            h = dt / steps
            st.control_step(h, self.weather.temperature(t), self.weather.local_hours(t),
                            fx, self._noise)
            heat = fl.radiator_heat(st.mean_temp(), st.flow_ratio(), st.ntu_design)
            if active.flat_heat is not None:
                heat = heat * active.flat_heat + self._party(active.flat_heat)
            drawn = fl.step(h, st.outdoor, heat)
            st.heat_step(h, drawn, fx)
        frame = self._frame(t, active)
        self._index += 1
        return frame

    def _party(self, share: F64) -> F64:
        """Heat from the neighbours into flats whose radiator fails (``share`` < 1), kW:
        PARTY_UA x their UA towards the mean of their station's flats (faults.py)."""
        fl = self.flats
        mean = np.bincount(fl.station, weights=fl.indoor, minlength=fl.n_stations) / np.maximum(
            np.bincount(fl.station, minlength=fl.n_stations), 1)
        gain: F64 = np.where(share < 1.0, PARTY_UA * fl.ua * (mean[fl.station] - fl.indoor), 0.0)
        return gain

    def _frame(self, t: float, active: Active) -> Frame:
        st, lay = self.stations, self.layout
        # The station's logger counts every measurement; an unpowered one restarts from 0.
        unpowered = active.effects.power_lost & ~active.power_ok & active.silent
        self.seq = np.where(unpowered, -1, self.seq + 1)
        values = st.readings(self._noise)
        report = np.flatnonzero(~active.silent).astype(np.int64)
        values = {k: v[report] for k, v in values.items()}
        skew = active.skew_s if active.skew_s is not None else np.zeros(lay.n_stations)
        ts = t + self.station_phase + skew
        k = self._index % self.flat_every
        due = self._flat_order[self._flat_bounds[k] : self._flat_bounds[k + 1]]
        self.flat_seq[due] += 1  # battery meters keep measuring while their station is silent
        due = np.sort(due[~active.silent[lay.flat_station[due]]])
        fvalues = self.flats.readings(due, st.ts, st.flow, self._noise)
        if active.flat_air is not None:  # an open window: the sensor is in the cold air
            fvalues["indoor_temp"] = fvalues["indoor_temp"] + active.flat_air[due]
        for f in active.sensor:
            if f.spec.field in FLAT_FIELDS:
                assert f.flats is not None
                self._apply_sensor(f, f.flats, due, fvalues)
            else:
                self._apply_sensor(f, f.stations, report, values)
        offline = active.offline
        went = np.flatnonzero(offline & ~self._offline).astype(np.int64)
        came = np.flatnonzero(~offline & self._offline).astype(np.int64)
        self._offline = offline
        down = active.gateways_down
        frame = Frame(
            t=t,
            index=self._index,
            stations=report,
            station_ts=ts[report],
            station_seq=self.seq[report],
            station_values=values,
            pump_running=st.running[report],
            power_ok=active.power_ok[report],
            has_setpoint=self.regimes.reports_setpoint[report],
            has_pump=self.regimes.reports_pump[report],
            flats=due,
            flat_ts=t + self.flat_phase[due] + skew[lay.flat_station[due]],
            flat_seq=self.flat_seq[due],
            flat_values=fvalues,
            went_offline=went,
            came_online=came,
            gateways_down=sorted(down - self._gateways_down),
            gateways_up=sorted(self._gateways_down - down),
            delivery=active.delivery,
        )
        self._gateways_down = down
        return frame

    def _apply_sensor(
        self, f: Fault, targets: IntArray, reported: IntArray, values: dict[str, F64]
    ) -> None:
        """Corrupt one field of the targets that report now (stuck, spikes or sentinel)."""
        name = f.spec.field
        assert name is not None
        if reported.size == 0:
            return
        pos = np.minimum(np.searchsorted(reported, targets), reported.size - 1)
        hit = reported[pos] == targets  # which targets report now (``reported`` is sorted)
        if not hit.any():
            return
        rows = pos[hit]
        col = values[name].copy()
        if f.kind == "sensor_stuck":
            if f.stuck is None:
                f.stuck = np.full(targets.size, np.nan)
            first = np.isnan(f.stuck) & hit
            f.stuck[first] = col[pos[first]]
            col[rows] = f.stuck[hit]
        elif f.kind == "sensor_spikes":
            assert f.size is not None
            spike = self._fault_rng.random(rows.size) < f.spec.rate
            sign = np.where(self._fault_rng.random(rows.size) < 0.5, -1.0, 1.0)
            col[rows] += np.where(spike, sign * f.size, 0.0)
        else:
            assert f.size is not None
            col[rows] = f.size
        lo, hi = _RANGES.get(name, _WATER if name.endswith("_temp") else (0.0, 1e9))
        values[name] = np.clip(col, lo, hi)

    def close(self) -> None:
        self.schedule.close()
