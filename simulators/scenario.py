"""Scenario settings: one YAML file describes fleet, climate, control, reporting and faults.

The scenario is a pydantic model built through :func:`heatwatch.settings.load_settings`, so a
typo or a wrong unit is reported once with its dotted path before anything connects. Durations
accept ``90s``, ``30m``, ``6h``, ``2d``, ``1h30m`` or plain seconds because scenario authors
think in hours and days, not in seconds. ``simulators/scenarios/normal_week.yaml`` is the
commented reference for every key.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from heatwatch.settings import HeatwatchSettings, MqttSettings, load_settings

__all__ = [
    "SCENARIO_DIR",
    "ControlConfig",
    "FaultKind",
    "FaultSpec",
    "FleetConfig",
    "ForecastSimConfig",
    "RegimeSpec",
    "ReportingConfig",
    "SimulatorSettings",
    "TimeConfig",
    "WeatherConfig",
    "load_scenario",
    "parse_clock",
    "parse_duration",
]

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_CLIENT_ID = "heatwatch-sim"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

FaultKind = Literal[
    "leak",
    "power_loss",
    "comm_loss",
    "pump_trip",
    "under_supply",
    "sensor_stuck",
    "sensor_spikes",
    "sensor_sentinel",
    "duplicates",
    "out_of_order",
    "clock_skew",
    "radiator_blocked",
    "flat_under_supply",
    "window_open",
]


def parse_duration(value: object) -> float:
    """Seconds from ``6h``, ``1h30m``, ``+2d`` or a number (already seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be true/false")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"a duration must be a number or text like '6h', not {value!r}")
    text = value.strip().lstrip("+").replace(" ", "")
    total, pos = 0.0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        try:
            return float(text)
        except ValueError:
            raise ValueError(
                f"not a duration: {value!r} (use e.g. 90s, 30m, 6h, 2d, 1h30m or seconds)"
            ) from None
    return total


def _parse_when(value: object) -> float | datetime:
    """Offset from the scenario start (a duration) or an absolute RFC 3339 time with offset."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an absolute time needs a UTC offset, e.g. 2026-01-12T08:00+08:00")
        return value
    try:
        return parse_duration(value)
    except ValueError:
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return _parse_when(when)
        raise ValueError(
            f"{value!r} is neither an offset like '2h' nor an RFC 3339 time with offset"
        ) from None


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
When = Annotated[float | datetime, BeforeValidator(_parse_when)]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColdWave(_Block):
    """A scripted cold wave: the daily mean drops by ``depth`` K within ~12 h, then recovers."""

    start: When
    duration: PositiveSeconds = 3 * 86400.0
    depth: float = Field(10.0, ge=0, le=40)


class WeatherConfig(_Block):
    """Outdoor temperature. Defaults: Shenyang in January (daily means about -20..0 °C)."""

    mean_temp: float = Field(-9.5, ge=-50, le=30)
    daily_amplitude: float = Field(4.5, ge=0, le=20)
    anomaly_std: float = Field(3.0, ge=0, le=20)
    anomaly_days: float = Field(3.0, gt=0, le=30)
    cold_wave_rate_per_day: float = Field(0.05, ge=0, le=1)
    cold_wave_depth: tuple[float, float] = (5.0, 10.0)
    cold_waves: tuple[ColdWave, ...] = ()
    utc_offset_h: float = Field(8.0, ge=-12, le=14)


class ForecastSimConfig(_Block):
    """Weather forecasts of the simulated weather, published retained per zone on
    ``{prefix}/_weather/{zone}/forecast`` (simulators/forecasts.py). The error is a bias plus
    a seeded random walk over the lead time (smooth in time, as real forecast errors are),
    whose standard deviation is ``noise_k_24h`` at 24 h and grows with the square root of
    the lead."""

    enabled: bool = False
    interval_s: PositiveSeconds = 3600.0
    horizon_h: int = Field(48, ge=1, le=384)
    bias_k: float = Field(0.0, ge=-10, le=10)
    noise_k_24h: float = Field(1.5, ge=0, le=10)


class NightSetback(_Block):
    start_hour: float = Field(22.0, ge=0, lt=24)
    end_hour: float = Field(5.0, ge=0, lt=24)
    delta: float = Field(3.0, ge=0, le=20)


def parse_clock(value: object) -> float:
    """Local clock time ``"HH:MM"`` as hours (22:30 -> 22.5)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"a local time must look like '22:00', not {value!r}")
    hours, minutes = (int(x) for x in value.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time of day: {value!r}")
    return hours + minutes / 60.0


ClockHours = Annotated[float, BeforeValidator(parse_clock)]


class RegimeSpec(_Block):
    """How a group of stations runs its nights and what it reports. Planned operation, not a
    fault: no ground truth. Entries apply in order and set only the keys they give.

    Target: ``stations``, ``zone``, or ``share: [from, to]``, a seeded slice of the fleet (each
    station draws one number in [0, 1) from the seed; slices of that same draw can be made
    disjoint or overlapping on purpose, and a station keeps its draw when entries change).
    """

    stations: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()
    zone: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    share: tuple[float, float] | None = None
    # continuous: heat all night (no setback, whatever control.night_setback says);
    # setback: the setpoint drops by setback_k in the window; off: heating switched off in
    # the window (primary valve closed, circulation pump stopped), restarted at its end.
    night: Literal["continuous", "setback", "off"] | None = None
    window: tuple[ClockHours, ClockHours] = (22.0, 5.0)  # local "HH:MM", may wrap midnight
    setback_k: float = Field(8.0, ge=0, le=40)
    # off only: nights that begin colder than this (the controller's filtered outdoor
    # temperature at the window's start) run through with setback_k instead, as real
    # stations do on their coldest nights; null: off every night
    run_through_below_c: float | None = Field(None, ge=-50, le=30)
    curve_shift_k: float = Field(0.0, ge=-20, le=20)  # this station's curve above the fleet's
    reports_setpoint: bool | None = None  # telemetry carries supply_setpoint
    reports_pump: bool | None = None  # telemetry carries pump_running (false: omitted)
    # chance per morning restart that a cold slug in the primary supply line puts primary
    # return above primary supply for a while (measured: about 1 restart in 3 to 2 in 5)
    restart_inversion: float = Field(0.4, ge=0, le=1)

    @field_validator("night", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML 1.1 reads a bare ``off`` as false: take it as meant."""
        return "off" if value is False else value

    @model_validator(mode="after")
    def _check(self) -> RegimeSpec:
        targets = [bool(self.stations), self.zone is not None, self.share is not None]
        if sum(targets) != 1:
            raise ValueError("name exactly one target: stations, zone or share: [from, to]")
        if self.share is not None and not 0.0 <= self.share[0] < self.share[1] <= 1.0:
            raise ValueError("share must be [from, to] with 0 <= from < to <= 1")
        if self.run_through_below_c is not None and self.night != "off":
            raise ValueError("run_through_below_c only applies to night: off")
        if self.window[0] == self.window[1]:
            raise ValueError("window start and end must differ")
        return self


class ControlConfig(_Block):
    """Weather compensation: (outdoor °C, secondary supply °C) points, interpolated, clamped."""

    curve: tuple[tuple[float, float], ...] = ((-26.0, 60.0), (-19.0, 55.0), (5.0, 35.0))
    design_outdoor_temp: float = -19.0
    design_return_temp: float = Field(45.0, ge=0, le=150)
    design_indoor_temp: float = Field(21.0, ge=5, le=30)
    lag_s: PositiveSeconds = 300.0
    outdoor_filter_s: PositiveSeconds = 1800.0
    night_setback: NightSetback | None = None
    primary_curve: tuple[tuple[float, float], ...] = ((-20.0, 110.0), (5.0, 70.0))

    @model_validator(mode="after")
    def _check_curves(self) -> ControlConfig:
        for name in ("curve", "primary_curve"):
            points = getattr(self, name)
            if len(points) < 2:
                raise ValueError(f"{name} needs at least two (outdoor, supply) points")
            xs = [p[0] for p in points]
            if xs != sorted(xs) or len(set(xs)) != len(xs):
                raise ValueError(f"{name} outdoor temperatures must be strictly increasing")
        if self.design_return_temp >= max(p[1] for p in self.curve):
            raise ValueError("design_return_temp must be below the curve's highest supply")
        return self


class FleetConfig(_Block):
    stations: int = Field(40, ge=1, le=200_000)
    zones: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = (
        "heping",
        "shenhe",
        "dadong",
        "huanggu",
        "tiexi",
        "hunnan",
        "yuhong",
        "sujiatun",
        "shenbei",
    )
    flats_per_station: tuple[int, int] = (24, 240)
    station_id_format: str = "st-{:05d}"
    stations_per_gateway: int = Field(1, ge=1, le=10_000)
    flat_heat_meters: bool = True
    heat_per_flat_kw: tuple[float, float] = (3.0, 6.0)
    flat_time_constant_h: tuple[float, float] = (25.0, 45.0)

    @model_validator(mode="after")
    def _check(self) -> FleetConfig:
        lo, hi = self.flats_per_station
        if not 1 <= lo <= hi <= 5000:
            raise ValueError("flats_per_station must be (min, max) with 1 <= min <= max <= 5000")
        if not self.zones:
            raise ValueError("zones must name at least one zone")
        try:
            ids = {self.station_id_format.format(i) for i in (0, 1)}
        except (IndexError, KeyError, ValueError) as exc:
            raise ValueError(f"station_id_format: {exc}") from exc
        if len(ids) != 2 or not all(re.match(ID_PATTERN, s) for s in ids):
            raise ValueError("station_id_format must give distinct ids matching [A-Za-z0-9_-]")
        return self


class ReportingConfig(_Block):
    station_interval_s: PositiveSeconds = 10.0
    flat_interval_s: PositiveSeconds = 300.0
    ts_format: Literal["epoch_ms", "rfc3339"] = "epoch_ms"
    batch: int = Field(1, ge=1, le=100)
    qos: Literal[0, 1] = 1
    max_inflight: int = Field(1000, ge=1, le=20_000)
    offline_on_exit: bool = True

    @model_validator(mode="after")
    def _check(self) -> ReportingConfig:
        ratio = self.flat_interval_s / self.station_interval_s
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise ValueError("flat_interval_s must be a whole multiple of station_interval_s")
        return self


class FaultSpec(_Block):
    """One injected fault. Target exactly one of station(s), zone or gateway."""

    kind: FaultKind
    station: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    stations: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()
    zone: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    gateway: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    meter: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    start: When = 0.0
    duration: PositiveSeconds = 3600.0
    size: float | None = None
    field: str | None = None
    cause: Literal["valve_stuck", "primary_undertemp"] = "valve_stuck"
    backup_power: bool = False
    rate: float = Field(0.1, ge=0, le=1)
    delay_s: Seconds = 30.0
    # leak only: seconds to full size (null: min(30 min, duration / 4); 0: a burst)
    ramp: Seconds | None = None

    @model_validator(mode="after")
    def _check(self) -> FaultSpec:
        targets = [bool(self.station or self.stations), bool(self.zone), bool(self.gateway)]
        if sum(targets) != 1:
            raise ValueError("name exactly one target: station/stations, zone or gateway")
        if self.gateway and self.kind not in ("power_loss", "comm_loss"):
            raise ValueError("a gateway target only makes sense for power_loss or comm_loss")
        if self.kind.startswith("sensor_") and not self.field:
            raise ValueError(f"{self.kind} needs field (e.g. supply_temp or indoor_temp)")
        flat_kind = self.kind in ("radiator_blocked", "flat_under_supply", "window_open")
        if self.meter and not (self.kind.startswith("sensor_") or flat_kind):
            raise ValueError("meter only applies to sensor and flat faults")
        if flat_kind and not (self.meter and self.station):
            raise ValueError(f"{self.kind} needs station and meter (the flat)")
        if self.ramp is not None and self.kind != "leak":
            raise ValueError("ramp only applies to leak")
        return self


class TimeConfig(_Block):
    mode: Literal["accelerated", "realtime"] = "accelerated"
    speed: float | None = Field(None, gt=0)
    start: datetime | None = None
    duration: PositiveSeconds | None = 86400.0

    @model_validator(mode="after")
    def _check(self) -> TimeConfig:
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-01-12T00:00:00+08:00")
        if self.mode == "accelerated" and self.duration is None:
            raise ValueError("accelerated mode needs a duration")
        return self


class OutputConfig(_Block):
    ground_truth: Path | None = None
    registry: Path | None = None


class SimulatorSettings(HeatwatchSettings):
    """The whole scenario (``heatwatch simulate -c scenario.yaml``)."""

    mqtt_client_id = DEFAULT_CLIENT_ID
    seed: int = Field(42, ge=0)
    mqtt: MqttSettings = Field(
        default_factory=lambda: MqttSettings.model_validate({"client_id": DEFAULT_CLIENT_ID})
    )
    time: TimeConfig = Field(default_factory=lambda: TimeConfig.model_validate({}))
    weather: WeatherConfig = Field(default_factory=lambda: WeatherConfig.model_validate({}))
    forecast: ForecastSimConfig = Field(
        default_factory=lambda: ForecastSimConfig.model_validate({}))
    control: ControlConfig = Field(default_factory=lambda: ControlConfig.model_validate({}))
    fleet: FleetConfig = Field(default_factory=lambda: FleetConfig.model_validate({}))
    reporting: ReportingConfig = Field(
        default_factory=lambda: ReportingConfig.model_validate({})
    )
    faults: tuple[FaultSpec, ...] = ()
    regimes: tuple[RegimeSpec, ...] = ()
    output: OutputConfig = Field(default_factory=lambda: OutputConfig.model_validate({}))
    description: str = ""

    def start_epoch(self, now: float) -> float:
        """Simulated start: configured, else now (real time) or now minus the duration.

        Accelerated runs end at "now" by default so that no simulated timestamp lies in the
        future (the decoder rejects readings more than a few minutes ahead of its clock).
        """
        if self.time.start is not None:
            return self.time.start.timestamp()
        if self.time.mode == "realtime" or self.time.duration is None:
            return now
        return now - self.time.duration


def resolve_when(when: float | datetime, start: float) -> float:
    """Absolute epoch seconds of a fault or cold-wave time."""
    if isinstance(when, datetime):
        return when.astimezone(UTC).timestamp()
    return start + when


def load_scenario(path: Path | str | None = None, **overrides: Any) -> SimulatorSettings:
    """Load a scenario file (default: the normal-week reference) with ``HEATWATCH_*`` on top."""
    if path is None:
        path = SCENARIO_DIR / "normal_week.yaml"
    return load_settings(SimulatorSettings, path, **overrides)
