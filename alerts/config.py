"""Rule configuration: pydantic models for ``alerts/rules.sample.yaml``, validated at start-up.

Per-zone and per-station overrides use the *same* models as the defaults; pydantic remembers
which keys a YAML block actually set (``model_fields_set``), and :meth:`RulesConfig.params_for`
layers only those keys: defaults <- zone <- station. So an override is type-checked exactly like
the default it replaces, there is no second "partial" schema to drift, and no raw dict survives
loading. Every combination is resolved once (cached), so per-reading work never merges configs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alerts.model import Severity
from heatwatch.settings import ConfigError

__all__ = [
    "CurvePoint",
    "FieldNames",
    "HeatingNotResumed",
    "HeatingSchedule",
    "InhibitRule",
    "OffWindow",
    "PipelineParams",
    "RuleParams",
    "RuleSet",
    "RulesConfig",
    "load_rules",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleParams(_Model):
    """Lifecycle settings every rule has (Prometheus ``for`` / ``keep_firing_for`` + flapping)."""

    enabled: bool = True
    severity: Severity = Severity.WARNING
    for_s: float = Field(default=0.0, ge=0, description="hold time before firing")
    keep_firing_for_s: float = Field(default=0.0, ge=0)
    flap_window_s: float = Field(default=1800.0, gt=0)
    flap_threshold: int = Field(default=6, ge=2, le=60, description="signal flips in the window")

    def check(self) -> None:
        """Cross-field constraints, checked on *layered* values only: an override may set one
        side of a pair (say ``ratio``) and be valid only together with the other side's value
        from the zone or the defaults, so validating the override alone would be wrong."""


class StationOffline(RuleParams):
    severity: Severity = Severity.CRITICAL
    intervals: float = Field(default=3.0, gt=0, description="missed reporting intervals")
    min_timeout_s: float = Field(default=60.0, gt=0)


class PowerLoss(RuleParams):
    severity: Severity = Severity.CRITICAL


class PumpStopped(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 120.0
    flow_min: float = Field(default=0.1, ge=0, description="m³/h; 'zero' flow if no design")
    flow_min_share: float = Field(default=0.05, ge=0, le=1, description="of design flow")
    dt_min: float = Field(default=2.0, ge=0, description="collapsed supply-return K")


class MakeupSurge(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 600.0
    ratio: float = Field(default=0.02, gt=0, lt=1, description="make-up / circulating flow")
    recover_ratio: float = Field(default=0.015, gt=0, lt=1)

    def check(self) -> None:
        if self.recover_ratio > self.ratio:
            raise ValueError("makeup_surge: recover_ratio must be <= ratio")


class PressureDrop(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 60.0
    floor_bar: float = 1.0
    recover_bar: float = 1.2
    max_fall_bar_per_min: float = Field(default=0.1, gt=0)
    window_s: float = Field(default=600.0, gt=0)

    def check(self) -> None:
        if self.recover_bar < self.floor_bar:
            raise ValueError("pressure_drop: recover_bar must be >= floor_bar")


class TankDraining(RuleParams):
    for_s: float = 300.0
    max_fall_per_min: float = Field(default=0.005, gt=0, description="metres per minute")
    window_s: float = Field(default=900.0, gt=0)


class ZoneCold(RuleParams):
    for_s: float = 1800.0
    standard_c: float = 18.0
    night_standard_c: float | None = None  # standard during the zone's night setback
    critical_c: float = 13.0
    share: float = Field(default=0.10, gt=0, le=1, description="share of flats below the standard")
    recover_share: float = Field(default=0.05, ge=0, le=1)
    min_flats: int = Field(default=3, ge=1)

    def check(self) -> None:
        if self.recover_share > self.share:
            raise ValueError("zone_cold: recover_share must be <= share")
        if self.critical_c > min(self.standard_c, self.night_standard_c or self.standard_c):
            raise ValueError("zone_cold: critical_c must be <= standard_c and night_standard_c")


class CurvePoint(_Model):
    outdoor_c: float
    supply_c: float


class HeatingNotResumed(RuleParams):
    """``heating_not_resumed``: the station is not delivering heat when it should.

    Two clocks, because the two cases differ in how sure we can be. After a planned off window
    ends, heat is owed: ``after_window_s`` later it is an outage. Off outside any planned window
    may be a night shutdown nobody configured (most stations do it): only ``unplanned_s`` of
    idleness counts, longer than such a night (7-8 h on real stations). Either way only while
    the outdoor temperature, averaged over ``outdoor_avg_s`` (an exponential mean: a cold
    dawn on a mild October day is not a cold day), is under ``max_outdoor_c``: utilities
    switch mild days off on purpose.
    """

    severity: Severity = Severity.CRITICAL
    after_window_s: float = Field(default=3600.0, ge=0, description="after a planned window")
    unplanned_s: float = Field(default=32400.0, gt=0, description="idle outside any plan")
    max_outdoor_c: float = Field(default=5.0, description="judged only colder than this")
    outdoor_avg_s: float = Field(default=43200.0, gt=0, description="outdoor mean time constant")


class SupplyBelowCurve(RuleParams):
    for_s: float = 1800.0
    tolerance_k: float = Field(default=5.0, ge=0)
    recover_k: float = Field(default=3.0, ge=0, description="back within this of the setpoint")
    curve: tuple[CurvePoint, ...] = (
        CurvePoint(outdoor_c=-19.0, supply_c=55.0),
        CurvePoint(outdoor_c=5.0, supply_c=35.0),
    )
    # The station's own learned curve (``heatwatch rules calibrate``); the reference order is
    # the reading's supply_setpoint, then this, then ``curve``.
    calibrated_curve: tuple[CurvePoint, ...] | None = None

    @field_validator("curve", "calibrated_curve")
    @classmethod
    def _curve(cls, curve: tuple[CurvePoint, ...] | None) -> tuple[CurvePoint, ...] | None:
        if curve is None:
            return None
        xs = [p.outdoor_c for p in curve]
        if len(xs) < 2 or any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError("curve needs >= 2 points with strictly increasing outdoor_c")
        return curve

    def check(self) -> None:
        if self.recover_k > self.tolerance_k:
            raise ValueError("supply_below_curve: recover_k must be <= tolerance_k")


class StuckSensor(RuleParams):
    stuck_after_s: float = Field(default=7200.0, gt=0)
    min_samples: int = Field(default=10, ge=2)
    fields: tuple[str, ...] = (
        "supply_temp", "return_temp", "primary_supply_temp", "primary_return_temp",
        "supply_pressure", "return_pressure",
    )


class Range(_Model):
    min: float
    max: float


class OutOfRange(RuleParams):
    for_s: float = 60.0
    ranges: dict[str, Range] = {
        "supply_temp": Range(min=-20, max=120),
        "return_temp": Range(min=-20, max=120),
        "primary_supply_temp": Range(min=-20, max=150),
        "primary_return_temp": Range(min=-20, max=150),
        "outdoor_temp": Range(min=-50, max=50),
        "supply_pressure": Range(min=0, max=16),
        "return_pressure": Range(min=0, max=16),
        "flow": Range(min=0, max=5000),
        "makeup_flow": Range(min=0, max=100),
        "tank_level": Range(min=0, max=50),
    }
    sentinels: tuple[float, ...] = (-39.9, -127.0, 327.67, -327.68, 999.9)


class ReturnAboveSupply(RuleParams):
    for_s: float = 900.0
    margin_k: float = Field(default=1.0, ge=0)
    # A circuit's pair is judged only while that circuit circulates (a still pipe's probes
    # drift apart as they cool); the secondary uses pump_stopped's flow floor.
    primary_flow_min: float = Field(default=0.1, ge=0, description="m³/h primary circulation")


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def _quoted_time(value: object) -> object:
    """Reject a number where a time of day belongs: YAML 1.1 reads an unquoted ``22:00`` as
    the sexagesimal number 1320, which pydantic would take as 00:22:00 without a word."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a time of day is a quoted 'HH:MM' string (got the number {value}; "
                         "unquoted 22:00 is the number 1320 in YAML)")
    return value


class OffWindow(_Model):
    """A daily local-time window in which the heating is planned off; may wrap midnight."""

    start: dt.time
    end: dt.time

    _times = field_validator("start", "end", mode="before")(_quoted_time)

    @model_validator(mode="after")
    def _not_empty(self) -> OffWindow:
        if self.start == self.end:
            raise ValueError(f"off window {self.start:%H:%M}-{self.end:%H:%M} is empty")
        return self

    def minutes(self) -> list[tuple[int, int]]:
        """The window as minute-of-day spans ``[a, b)``, split at midnight when it wraps."""
        a, b = _minutes(self.start), _minutes(self.end)
        return [(a, b)] if a < b else [(a, 1440), (0, b)]


class HeatingSchedule(_Model):
    """When the heating runs: a season (month-day, may wrap the new year), daily windows in
    which it is planned off, a night setback, and the warm-up after it resumes.

    Times are local to ``timezone`` because night setback is a wall-clock thing for residents.
    ``delivering_kw`` / ``delivering_dt_k`` say when a station counts as delivering heat (from
    its own data): heat power at or above ``delivering_kw`` where the station reports it, else
    a secondary supply-return difference of at least ``delivering_dt_k``.
    """

    season_start: str = Field(default="09-01", pattern=r"^\d{2}-\d{2}$")
    season_end: str = Field(default="05-31", pattern=r"^\d{2}-\d{2}$")
    timezone: str = "Europe/Helsinki"
    setback_start: dt.time | None = None
    setback_end: dt.time | None = None
    setback_k: float = Field(default=0.0, ge=0, description="night setpoint cut, K")
    off_windows: tuple[OffWindow, ...] = ()
    warmup_s: float = Field(default=5400.0, ge=0, description="after heating resumes")
    delivering_kw: float = Field(default=30.0, gt=0, description="heat power when on")
    delivering_dt_k: float = Field(default=3.0, gt=0, description="secondary dT when on")
    # A rise of the reading's supply_setpoint by more than this between two readings (a
    # controller boost, the end of its night reduction) starts a warm-up like a restart.
    setpoint_step_k: float = Field(default=5.0, gt=0, description="setpoint jump, K")
    # Idle at least this long is a switch-off: delivering again after it is a restart (with
    # its warm-up), and supply_below_curve keeps quiet only from then on. A shorter dip in
    # heat power (a fault cooling the primary) is neither. Keep it <= supply_below_curve's
    # for_s, so a switch-off is excused before its pending alert could fire.
    switch_off_min_s: float = Field(default=1800.0, ge=0,
                                    description="idle this long is a switch-off")

    _times = field_validator("setback_start", "setback_end", mode="before")(_quoted_time)

    @field_validator("off_windows")
    @classmethod
    def _no_overlap(cls, windows: tuple[OffWindow, ...]) -> tuple[OffWindow, ...]:
        spans = sorted((a, b, w) for w in windows for a, b in w.minutes())
        for (_, b1, w1), (a2, _, w2) in itertools.pairwise(spans):
            if a2 < b1:
                raise ValueError(
                    f"off windows {w1.start:%H:%M}-{w1.end:%H:%M} and "
                    f"{w2.start:%H:%M}-{w2.end:%H:%M} overlap (merge them into one)")
        return windows

    @field_validator("season_start", "season_end")
    @classmethod
    def _month_day(cls, md: str) -> str:
        month, day = (int(x) for x in md.split("-"))
        try:
            dt.date(2024, month, day)
        except ValueError as exc:
            raise ValueError(f"bad month-day {md!r}") from exc
        return md

    @field_validator("timezone")
    @classmethod
    def _tz(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r}") from exc
        return name

    def check(self) -> None:
        if (self.setback_start is None) != (self.setback_end is None):
            raise ValueError("heating: setback_start and setback_end go together")


class RuleSet(_Model):
    """Parameters of every shipped rule; also the shape of a zone or station override."""

    station_offline: StationOffline = StationOffline()
    power_loss: PowerLoss = PowerLoss()
    pump_stopped: PumpStopped = PumpStopped()
    makeup_surge: MakeupSurge = MakeupSurge()
    pressure_drop: PressureDrop = PressureDrop()
    tank_draining: TankDraining = TankDraining()
    zone_cold: ZoneCold = ZoneCold()
    supply_below_curve: SupplyBelowCurve = SupplyBelowCurve()
    stuck_sensor: StuckSensor = StuckSensor()
    out_of_range: OutOfRange = OutOfRange()
    return_above_supply: ReturnAboveSupply = ReturnAboveSupply()
    heating_not_resumed: HeatingNotResumed = HeatingNotResumed()
    heating: HeatingSchedule = HeatingSchedule()

    def check(self) -> None:
        for name in type(self).model_fields:
            part: RuleParams | HeatingSchedule = getattr(self, name)
            part.check()


class PipelineParams(RuleParams):
    """``pipeline_down``: the engine's own input is silent."""

    severity: Severity = Severity.CRITICAL
    broker_down_after_s: float = Field(default=30.0, ge=0)
    # A station counts as silent after max(silent_intervals x its interval, silent_after_s):
    # deliberately sooner than station_offline, so the root alert fires before the storm.
    silent_intervals: float = Field(default=2.0, gt=0)
    silent_after_s: float = Field(default=30.0, gt=0)
    silent_share: float = Field(default=0.5, gt=0, le=1)
    recover_share: float = Field(default=0.2, ge=0, le=1)
    min_stations: int = Field(default=5, ge=1)
    startup_grace_s: float = Field(default=300.0, ge=0)
    # A broker restart publishes every gateway's last will ("offline", retained) and the engine,
    # reconnecting first, would page the whole fleet before the gateways say "online" again.
    reconnect_grace_s: float = Field(default=60.0, ge=0)


class FieldNames(_Model):
    """Wire field names the rules read (docs/wire-format.md); renamed here, not in code.

    ``supply_temp`` / ``return_temp`` / ``flow`` are the *secondary* (building) circuit, as on
    the wire; ``static_pressure`` is the secondary return pressure, the one the make-up
    pump holds and a leak pulls down.
    """

    supply_temp: str = "supply_temp"
    return_temp: str = "return_temp"
    primary_supply_temp: str = "primary_supply_temp"
    primary_return_temp: str = "primary_return_temp"
    flow: str = "flow"
    primary_flow: str = "primary_flow"
    supply_setpoint: str = "supply_setpoint"  # the station controller's own supply target
    heat_power: str = "heat_power"
    static_pressure: str = "return_pressure"
    makeup_flow: str = "makeup_flow"
    tank_level: str = "tank_level"
    outdoor_temp: str = "outdoor_temp"
    power_ok: str = "power_ok"
    pump_running: str = "pump_running"
    indoor_temp: str = "indoor_temp"
    status: str = "state"


class InhibitRule(_Model):
    """While a ``source`` alert fires, ``target`` alerts with equal subjects are not notified."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    same_station: bool = True


DEFAULT_INHIBIT = (
    InhibitRule(
        source=("station_offline", "pump_stopped"),
        target=("pressure_drop", "supply_below_curve", "return_above_supply",
                "heating_not_resumed"),
    ),
    InhibitRule(source=("pipeline_down",), target=("station_offline",), same_station=False),
)

M = TypeVar("M", bound=BaseModel)


def _layer(base: M, override: M) -> M:
    """Apply only the keys ``override`` set in YAML (recursively) and re-validate the result."""
    update: dict[str, Any] = {}
    for name in override.model_fields_set:
        value = getattr(override, name)
        current = getattr(base, name)
        if isinstance(value, BaseModel) and isinstance(current, BaseModel):
            update[name] = _layer(current, value)
        else:
            update[name] = value
    if not update:
        return base
    merged = {**{k: getattr(base, k) for k in type(base).model_fields}, **update}
    return type(base).model_validate(merged)


class RulesConfig(_Model):
    """The whole rules file."""

    defaults: RuleSet = RuleSet()
    zones: dict[str, RuleSet] = {}
    stations: dict[str, RuleSet] = {}
    pipeline: PipelineParams = PipelineParams()
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT
    fields: FieldNames = FieldNames()
    history_len: int = Field(default=120, ge=4, le=10000, description="samples per rate field")
    full_sweep_s: float = Field(default=60.0, gt=0, description="re-check all stations")
    repeat_interval_s: float = Field(default=14400.0, ge=0, description="0 = never")

    @model_validator(mode="after")
    def _resolve_all(self) -> RulesConfig:
        # Check every combination now, so a bad layering fails at start-up, not at 3 a.m.
        combos: list[tuple[str | None, str | None]] = [(None, None)]
        combos += [(zone, None) for zone in self.zones]
        combos += [(zone, st) for zone in (None, *self.zones) for st in self.stations]
        for zone, station in combos:
            where = ".".join(
                p for p in (f"zones.{zone}" if zone else "", f"stations.{station}" if station
                            else "") if p
            ) or "defaults"
            try:
                self._merge(zone, station).check()
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
        return self

    def _merge(self, zone: str | None, station: str | None) -> RuleSet:
        out = self.defaults
        if zone is not None and zone in self.zones:
            out = _layer(out, self.zones[zone])
        if station is not None and station in self.stations:
            out = _layer(out, self.stations[station])
        return out

    @cached_property
    def _cache(self) -> dict[tuple[str, str | None], RuleSet]:
        return {}

    def watched_fields(self) -> frozenset[str]:
        """Every telemetry field some rule can read under some zone/station: the field names,
        plus ``stuck_sensor.fields`` and the ``out_of_range`` range keys of the defaults and of
        every override (an override's value, when set, replaces the default's, so the union
        covers every layered combination). The engine keeps nothing else per station."""
        sets = (self.defaults, *self.zones.values(), *self.stations.values())
        out = set(self.fields.model_dump().values())
        for rs in sets:
            out.update(rs.stuck_sensor.fields)
            out.update(rs.out_of_range.ranges)
        return frozenset(out)

    def params_for(self, zone: str, station: str | None = None) -> RuleSet:
        """Effective parameters for a station (or a zone when ``station`` is None)."""
        key = (zone, station if station in self.stations else None)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._merge(*key)
        return found


def load_rules(path: Path | str | None) -> RulesConfig:
    """Read and validate a rules file; errors name the dotted key and the file."""
    if path is None:
        return RulesConfig()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read rules file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: rules file is not valid YAML: {exc}") from exc
    try:
        return RulesConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError(f"invalid rules file {p}:\n" + "\n".join(lines)) from exc
