"""Fault schedule: which faults are active at a given instant, what they do, and ground truth.

A fault is resolved once into station (and, for flat sensors, flat) indices and absolute
start/end times. Each step asks :meth:`FaultSchedule.at` for the physics effects, the silenced
stations and the sensor/delivery faults to apply to readings. When a fault first becomes
active, one ground-truth line per affected station goes to the JSONL file, so detection can be
scored against exactly what was injected (a fault scheduled after the run ended is not
recorded, because it never happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson

from simulators.layout import Layout
from simulators.model import Effects
from simulators.scenario import FaultSpec, resolve_when

__all__ = [
    "DEFAULT_SIZE",
    "DELIVERY_KINDS",
    "FLAT_FIELDS",
    "FLAT_KINDS",
    "SENSOR_KINDS",
    "Active",
    "Fault",
    "FaultSchedule",
    "rfc3339",
]

IntArray = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
SENSOR_KINDS = frozenset({"sensor_stuck", "sensor_spikes", "sensor_sentinel"})
DELIVERY_KINDS = frozenset({"duplicates", "out_of_order", "clock_skew"})
# One flat's faults (issue 16): its radiator gives ``size`` of its output (an air lock or a
# closed valve; a top-floor flat under-supplied by its riser), or its window is open for
# ``duration`` (the air, and the sensor in it, dips by ``size`` K; the walls do not). A flat
# whose radiator fails is still warmed by its neighbours through party walls, floor and
# ceiling (PARTY_UA times its own envelope's UA, towards its station's mean flat): that is
# why such a flat settles at 14-16 °C and not at the outdoor temperature. Between flats at
# about the same temperature that exchange is nil, so the model leaves it out elsewhere.
FLAT_KINDS = frozenset({"radiator_blocked", "flat_under_supply", "window_open"})
PARTY_UA = 3.0
WINDOW_TAU_S = 900.0  # the air warms back with this time constant once the window shuts
FLAT_FIELDS = frozenset({"indoor_temp", "humidity"})
STATION_FIELDS = frozenset(
    {
        "supply_temp",
        "return_temp",
        "primary_supply_temp",
        "primary_return_temp",
        "supply_pressure",
        "return_pressure",
        "primary_supply_pressure",
        "primary_return_pressure",
        "flow",
        "primary_flow",
        "makeup_flow",
        "tank_level",
        "pump_freq",
        "heat_power",
        "outdoor_temp",
    }
)
# Sizes when the scenario gives none: leak as a fraction of design flow, under-supply in K
# below the curve, spikes in the field's unit, sentinel value, clock skew in seconds.
DEFAULT_SIZE = {
    "leak": 0.03,
    "under_supply": 12.0,
    "sensor_spikes": 25.0,
    "sensor_sentinel": -39.9,
    "clock_skew": -600.0,
    "radiator_blocked": 0.1,
    "flat_under_supply": 0.4,
    "window_open": 6.0,
}


def leak_ramp(start: float, end: float, ramp: float | None = None) -> float:
    """Seconds a leak takes to reach full size: a crack opens up over minutes (default
    min(30 min, duration / 4)); a burst (a failed weld or gasket, ``ramp: 0``) is there at
    once."""
    return min(1800.0, (end - start) / 4) if ramp is None else ramp


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


@dataclass(slots=True)
class Fault:
    """A resolved fault: absolute times and the indices it touches."""

    id: int
    spec: FaultSpec
    start: float
    end: float
    stations: IntArray
    size: float | None
    gateway: int | None = None
    flats: IntArray | None = None
    stuck: npt.NDArray[np.float64] | None = None  # values frozen by sensor_stuck
    recorded: bool = False

    @property
    def kind(self) -> str:
        return self.spec.kind

    def details(self) -> dict[str, Any]:
        s = self.spec
        d: dict[str, Any] = {}
        if self.size is not None:
            d["size"] = self.size
        if s.kind == "leak":
            d["ramp_s"] = leak_ramp(self.start, self.end, s.ramp)
        if s.kind == "under_supply":
            d["cause"] = s.cause
        if s.kind == "power_loss":
            d["backup_power"] = s.backup_power
        if s.kind in SENSOR_KINDS:
            d["field"] = s.field
        if s.kind in ("sensor_spikes", "duplicates", "out_of_order"):
            d["rate"] = s.rate
        if s.kind == "out_of_order":
            d["delay_s"] = s.delay_s
        return d


@dataclass(slots=True)
class Active:
    """Everything the active faults change at one instant."""

    effects: Effects
    silent: B  # stations that publish nothing
    offline: B  # silent stations whose gateway announces them offline (retained)
    power_ok: B
    gateways_down: frozenset[int]
    sensor: list[Fault] = field(default_factory=list)
    delivery: list[Fault] = field(default_factory=list)
    skew_s: npt.NDArray[np.float64] | None = None
    flat_heat: npt.NDArray[np.float64] | None = None  # radiator output share per flat
    flat_air: npt.NDArray[np.float64] | None = None  # K added to the flat's air (window)


class FaultSchedule:
    def __init__(
        self,
        specs: tuple[FaultSpec, ...],
        layout: Layout,
        start: float,
        ground_truth: Path | None = None,
    ) -> None:
        self.layout = layout
        self._solo = np.bincount(layout.station_gateway) == 1  # gateways with one station
        self.faults = [self._resolve(i, spec, start) for i, spec in enumerate(specs)]
        self._truth: IO[bytes] | None = None
        if ground_truth is not None:
            ground_truth.parent.mkdir(parents=True, exist_ok=True)
            self._truth = ground_truth.open("wb")

    def _resolve(self, i: int, spec: FaultSpec, start: float) -> Fault:
        lay = self.layout
        where = f"faults[{i}] ({spec.kind})"
        gateway: int | None = None
        if spec.gateway is not None:
            if spec.gateway not in lay.gateway_ids:
                raise ValueError(f"{where}: unknown gateway {spec.gateway!r}")
            gateway = lay.gateway_ids.index(spec.gateway)
            stations = lay.gateway_stations(gateway)
        elif spec.zone is not None:
            if spec.zone not in lay.zones:
                raise ValueError(f"{where}: unknown zone {spec.zone!r} (zones: {lay.zones})")
            zi = lay.zones.index(spec.zone)
            stations = np.flatnonzero(lay.station_zone == zi).astype(np.int64)
        else:
            names = ((spec.station,) if spec.station else ()) + spec.stations
            try:
                stations = np.array([lay.station_index(n) for n in names], dtype=np.int64)
            except KeyError as exc:
                raise ValueError(f"{where}: {exc.args[0]}") from None
        flats: IntArray | None = None
        if spec.kind in FLAT_KINDS:
            if spec.meter not in lay.flat_ids:
                raise ValueError(f"{where}: unknown meter {spec.meter!r}")
            flats = np.array([lay.flat_ids.index(spec.meter)], dtype=np.int64)
            if int(lay.flat_station[flats[0]]) != int(stations[0]):
                raise ValueError(f"{where}: meter {spec.meter!r} is not a flat of {spec.station}")
        if spec.kind in SENSOR_KINDS:
            assert spec.field is not None
            if spec.field in FLAT_FIELDS:
                if spec.meter is not None:
                    if spec.meter not in lay.flat_ids:
                        raise ValueError(f"{where}: unknown meter {spec.meter!r}")
                    flats = np.array([lay.flat_ids.index(spec.meter)], dtype=np.int64)
                    stations = lay.flat_station[flats]
                else:
                    flats = np.concatenate([lay.flats_of(int(s)) for s in stations])
            elif spec.field not in STATION_FIELDS:
                known = sorted(STATION_FIELDS | FLAT_FIELDS)
                raise ValueError(f"{where}: field {spec.field!r} is not one of {known}")
        begin = resolve_when(spec.start, start)
        size = spec.size if spec.size is not None else DEFAULT_SIZE.get(spec.kind)
        return Fault(i, spec, begin, begin + spec.duration, stations, size, gateway, flats)

    def at(self, t: float) -> Active:
        n = self.layout.n_stations
        fx = Effects.none(n)
        silent = np.zeros(n, bool)
        offline = np.zeros(n, bool)
        power_ok = np.ones(n, bool)
        down: set[int] = set()
        act = Active(fx, silent, offline, power_ok, frozenset())
        for f in self.faults:
            if f.kind == "window_open" and f.start <= t < f.end + 6 * WINDOW_TAU_S:
                self._window(act, f, t)  # the air takes a while to warm back
                continue
            if not f.start <= t < f.end:
                continue
            if not f.recorded:
                self._record(f)
            s, k = f.stations, f.kind
            if k == "leak":
                assert f.size is not None
                ramp = leak_ramp(f.start, f.end, f.spec.ramp)
                fx.leak[s] += f.size * (min(1.0, (t - f.start) / ramp) if ramp > 0 else 1.0)
            elif k == "pump_trip":
                fx.pump_trip[s] = True
            elif k == "under_supply":
                assert f.size is not None
                fx.supply_deficit[s] = np.maximum(fx.supply_deficit[s], f.size)
                if f.spec.cause == "primary_undertemp":
                    fx.primary_undertemp[s] = True
            elif k == "power_loss":
                fx.power_lost[s] = True
                if f.spec.backup_power:
                    power_ok[s] = False
                else:
                    silent[s] = True
                    if f.gateway is not None:
                        down.add(f.gateway)
                    else:
                        # A station with a connection of its own dies with it: the real will
                        # fires. One behind a shared gateway is announced by the gateway.
                        gws = self.layout.station_gateway[s]
                        solo = self._solo[gws]
                        offline[s[~solo]] = True
                        down.update(gws[solo].tolist())
            elif k == "comm_loss":
                silent[s] = True
            elif k in FLAT_KINDS:
                assert f.flats is not None and f.size is not None
                if act.flat_heat is None:
                    act.flat_heat = np.ones(self.layout.n_flats)
                act.flat_heat[f.flats] *= f.size
            elif k in SENSOR_KINDS:
                act.sensor.append(f)
            elif k == "clock_skew":
                if act.skew_s is None:
                    act.skew_s = np.zeros(n)
                assert f.size is not None
                act.skew_s[s] += f.size
            else:
                act.delivery.append(f)
        act.power_ok = power_ok & ~silent
        act.gateways_down = frozenset(down)
        return act

    def _window(self, act: Active, f: Fault, t: float) -> None:
        """An open window: the air falls towards ``size`` K under the room (2 min), then
        warms back with WINDOW_TAU_S once it is shut; the thermal mass is not touched."""
        if not f.recorded:
            self._record(f)
        assert f.flats is not None and f.size is not None
        if act.flat_air is None:
            act.flat_air = np.zeros(self.layout.n_flats)
        open_s = min(t, f.end) - f.start
        dip = f.size * (1.0 - np.exp(-open_s / 120.0))
        if t >= f.end:
            dip *= np.exp(-(t - f.end) / WINDOW_TAU_S)
        act.flat_air[f.flats] -= dip

    def _record(self, f: Fault) -> None:
        f.recorded = True
        if self._truth is None:
            return
        lay = self.layout
        lines = []
        flats_by_station: dict[int, list[str]] = {}
        if f.flats is not None and f.spec.meter is not None:
            flats_by_station[int(f.stations[0])] = [f.spec.meter]
        if f.kind in FLAT_KINDS and f.flats is not None:
            j = int(f.flats[0])
            f_details = {"floor": int(lay.flat_floor[j]), "top_floor": bool(lay.flat_top[j]),
                         "gable_end": bool(lay.flat_gable[j])}
        else:
            f_details = {}
        for s in f.stations.tolist():
            row: dict[str, Any] = {
                "fault_id": f.id,
                "kind": f.kind,
                "station": lay.station_ids[s],
                "zone": lay.zone_of(s),
                "gateway": lay.gateway_ids[int(lay.station_gateway[s])],
                "start": rfc3339(f.start),
                "end": rfc3339(f.end),
                "details": {**f.details(), **f_details},
            }
            if s in flats_by_station:
                row["meters"] = flats_by_station[s]
            if f.kind == "power_loss":
                row["details"] = {**row["details"], "offline_via": self._offline_via(f, s)}
            lines.append(orjson.dumps(row))
        self._truth.write(b"\n".join(lines) + b"\n")
        self._truth.flush()

    def _offline_via(self, f: Fault, station: int) -> str | None:
        """How a power loss shows on the status topic: ``last_will`` (the broker publishes the
        connection's will), ``gateway`` (published explicitly), ``silence`` (not covered by the
        will of a dead shared gateway) or None (backup power: the station keeps reporting)."""
        if f.spec.backup_power:
            return None
        gw = int(self.layout.station_gateway[station])
        if f.gateway is None and not self._solo[gw]:
            return "gateway"
        lead = int(self.layout.gateway_stations(gw)[0])
        return "last_will" if station == lead else "silence"

    def close(self) -> None:
        if self._truth is not None:
            self._truth.close()
            self._truth = None
