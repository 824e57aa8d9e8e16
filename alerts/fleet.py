"""The engine's view of its input: one window per station, one aggregate per zone, and which
of them changed since the last evaluation.

Kept apart from the engine because this is the part with the O(1)-per-reading budget: every
reading lands here, while the engine's work is per evaluation. Stations are also kept in order
of their last arrival (an ``OrderedDict`` moved-to-end per reading), so "who has been silent
longest" is a walk from the front that stops at the first station heard recently.

The background sweep is a function of event time, not of how often the engine evaluates:
each station has a fixed phase in ``full_sweep_s`` (from a hash of its id), and is swept by
the first evaluation at or after each of its instants ``phase + k * full_sweep_s``; zones are
swept together at the multiples of ``full_sweep_s``. So a replay that skips evaluations which
can change nothing (:meth:`alerts.engine.Engine.next_due`) sweeps exactly the stations a
step-by-step replay sweeps at the ticks it does evaluate, and the live engine's sweep costs
the same every second (a bisect in the phase order plus the stations due).
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections import OrderedDict
from collections.abc import Iterator

from alerts.config import PipelineParams, RulesConfig
from alerts.flats import FlatBook
from alerts.rules.flat import FLAT_COLD_RULE, FLAT_SENSOR_RULE, FlatCold, FlatSensor
from alerts.rules.outage import HEATING_NOT_RESUMED
from alerts.rules.temperature import ZONE_COLD
from alerts.schedule import in_setback
from alerts.window import StationWindow, ZoneAggregate
from heatwatch.registry import Registry
from heatwatch.wire import Kind, Reading

__all__ = ["FleetState"]


class FleetState:
    def __init__(self, rules: RulesConfig, registry: Registry) -> None:
        self.rules = rules
        self.registry = registry
        self.windows: dict[str, StationWindow] = {}
        self.zones: dict[str, ZoneAggregate] = {}
        self.dirty: set[str] = set()
        self.dirty_zones: set[str] = set()
        self._by_age: OrderedDict[str, None] = OrderedDict()  # oldest arrival first
        self.sweep_s = rules.full_sweep_s
        self._phases: list[float] = []  # sweep phases in [0, sweep_s), ascending
        self._phase_ids: list[str] = []  # the station of each phase
        self._phase_of: dict[str, float] = {}
        self._last_slice: float | None = None
        self._history = rules.rate_fields()
        self._keep = rules.watched_fields()
        self._status_field = rules.fields.status
        self._indoor_field = rules.fields.indoor_temp
        # station -> (its zone's aggregate, the zone's name, the station id string every flat
        # of the station is filed under): a flat reading costs one lookup here instead of
        # registry and zone lookups, and 20 flats share one id string instead of 20 copies.
        self._flat_zone: dict[str, tuple[ZoneAggregate, str, str]] = {}
        # every flat on its own (flat_cold, flat_sensor): O(1) per reading, see alerts.flats
        self.flats = FlatBook(self._flat_params)
        sets = (rules.defaults, *rules.zones.values(), *rules.stations.values())
        self._flats_on = any(FLAT_COLD_RULE.params(rs).enabled
                             or FLAT_SENSOR_RULE.params(rs).enabled for rs in sets)
        for station in registry:
            self.window(station.id)

    def __len__(self) -> int:
        return len(self.windows)

    def window(self, station: str) -> StationWindow:
        window = self.windows.get(station)
        if window is None:
            info = self.registry.get(station)
            zone = self.registry.zone_of(station)
            rs = self.rules.params_for(zone, station)
            heating = rs.heating
            names = self.rules.fields
            window = StationWindow(
                station=station,
                zone=zone,
                report_interval_s=info.report_interval_s if info else 10.0,
                design_flow=info.design_flow if info else None,
                history_fields=self._history,
                history_len=self.rules.history_len,
                keep=self._keep,
                power_field=names.heat_power,
                supply_field=names.supply_temp,
                return_field=names.return_temp,
                delivering_kw=heating.delivering_kw,
                delivering_dt_k=heating.delivering_dt_k,
                outdoor_field=names.outdoor_temp,
                setpoint_field=names.supply_setpoint,
                setpoint_step_k=heating.setpoint_step_k,
                switch_off_min_s=heating.switch_off_min_s,
                outdoor_avg_s=HEATING_NOT_RESUMED.params(rs).outdoor_avg_s,
            )
            self.windows[station] = window
            phase = self.phase(station)
            i = bisect.bisect_right(self._phases, phase)
            self._phases.insert(i, phase)
            self._phase_ids.insert(i, station)
            self._by_age[station] = None
            self._by_age.move_to_end(station, last=False)  # never heard of: oldest
        return window

    def zone(self, zone: str) -> ZoneAggregate:
        agg = self.zones.get(zone)
        if agg is None:
            params = ZONE_COLD.params(self.rules.params_for(zone))
            agg = self.zones[zone] = ZoneAggregate(zone, params.standard_c, params.critical_c)
        return agg

    def observe(self, reading: Reading, received_at: float | None = None) -> None:
        """Fold one reading in: O(number of fields), marks its station or zone dirty."""
        kind = reading.kind
        station = reading.station
        if kind is Kind.METER:
            temp = reading.fields.get(self._indoor_field)
            if type(temp) is not float and (isinstance(temp, bool)
                                            or not isinstance(temp, int | float)):
                return
            hit = self._flat_zone.get(station)
            if hit is None:
                zone = self.registry.zone_of(station)
                hit = self._flat_zone[station] = (self.zone(zone), zone, station)
            agg, zone, station = hit
            agg.observe(station, reading.meter or "", float(temp))
            self.dirty_zones.add(zone)
            if reading.meter and self._flats_on:
                self.flats.observe(station, reading.meter, reading.ts_ns / 1e9, float(temp))
        elif kind is Kind.STATUS:
            status = reading.fields.get(self._status_field, reading.fields.get("online"))
            online = status if isinstance(status, bool) else str(status).lower() != "offline"
            self.observe_status(station, online, reading.ts_ns / 1e9)
        else:
            window = self.windows.get(station)
            if window is None:
                window = self.window(station)
            window.observe(reading.ts_ns / 1e9, reading.fields, received_at)
            self._by_age.move_to_end(station)
            self.dirty.add(station)

    def _flat_params(self, station: str, ts: float) -> tuple[FlatCold, FlatSensor, float]:
        """The flat rules' parameters for ``station`` and the standard in force at ``ts``
        (the night standard during its zone's setback)."""
        rs = self.rules.params_for(self.registry.zone_of(station), station)
        cold, sensor = FLAT_COLD_RULE.params(rs), FLAT_SENSOR_RULE.params(rs)
        night = cold.night_standard_c
        if night is not None and in_setback(ts, rs.heating):
            return cold, sensor, night
        return cold, sensor, cold.standard_c

    def order_by_seen(self) -> None:
        """Put the stations back in order of their last reading, never-heard first.

        Live arrivals keep that order by themselves; a warm-up feeds history station by
        station, and :meth:`silent_since` stops at the first recent station it meets."""
        order = sorted(self._by_age, key=lambda s: (
            -math.inf if (t := self.windows[s].seen_at) is None else t))
        self._by_age = OrderedDict.fromkeys(order)

    def observe_status(self, station: str, online: bool, ts: float) -> None:
        self.window(station).set_status(online, ts)
        self.dirty.add(station)

    def phase(self, station: str) -> float:
        """The station's sweep phase: spread evenly by a stable hash, the same every run."""
        phase = self._phase_of.get(station)
        if phase is None:
            phase = self._phase_of[station] = zlib.crc32(station.encode()) / 2**32 * self.sweep_s
        return phase

    def next_sweep(self, station: str, after: float) -> float:
        """The station's first sweep instant strictly after ``after``."""
        period = self.sweep_s
        t = after - after % period + self.phase(station)
        return t if t > after else t + period

    def next_zone_sweep(self, after: float) -> float:
        """The first zone sweep instant (a multiple of ``full_sweep_s``) after ``after``."""
        period = self.sweep_s
        return (after // period + 1) * period

    def sweep_slice(self, now: float, since: float | None = None) -> None:
        """Mark dirty the stations with a sweep instant in ``(since, now]``, and every zone
        when a multiple of ``full_sweep_s`` lies in it.

        ``since`` defaults to the previous call's ``now``; the first call sweeps everything.
        Clock-driven conditions (season start, night setback) need re-evaluation without new
        data; phases keep that cost flat instead of a spike of 20,000 stations a minute.
        """
        period = self.sweep_s
        last = self._last_slice if since is None else since
        self._last_slice = now
        if last is None or now - last >= period:
            self.dirty.update(self.windows)
            self.dirty_zones.update(self.zones)
            return
        if now <= last:
            return
        a, b = last % period, now % period
        phases, ids = self._phases, self._phase_ids
        if a < b:
            self.dirty.update(ids[bisect.bisect_right(phases, a):bisect.bisect_right(phases, b)])
        else:  # wrapped past a multiple of the period
            self.dirty.update(ids[bisect.bisect_right(phases, a):])
            self.dirty.update(ids[:bisect.bisect_right(phases, b)])
        if now // period > last // period:
            self.dirty_zones.update(self.zones)

    def sweep_done(self, now: float) -> None:
        """The sweep up to ``now`` is known to change nothing (a replay's idle tick)."""
        self._last_slice = now

    def count_silent(self, now: float, params: PipelineParams, started: float) -> int:
        """Stations silent past their pipeline threshold, counted oldest first.

        Stops once the fire threshold is reached, so a total outage costs O(threshold), not
        O(fleet), per evaluation. Silence before ``started`` does not count.
        """
        need = math.ceil(params.silent_share * len(self.windows))
        count = 0
        for station in self._by_age:
            window = self.windows[station]
            last = max(window.seen_at if window.seen_at is not None else started, started)
            if now - last < params.silent_after_s:
                break
            limit = max(params.silent_intervals * window.report_interval_s,
                        params.silent_after_s)
            if now - last >= limit:
                count += 1
                if count >= need:
                    break
        return count

    def silent_since(self, now: float, floor: float, resumed_at: float) -> Iterator[StationWindow]:
        """Stations not heard for at least ``floor`` seconds (since ``resumed_at``), oldest
        first; the walk stops at the first recent one. Do not observe while iterating."""
        for station in self._by_age:
            window = self.windows[station]
            last = window.seen_at if window.seen_at is not None else -math.inf
            if now - max(last, resumed_at) < floor:
                return
            yield window
