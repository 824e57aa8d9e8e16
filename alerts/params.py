"""The building blocks of the rules file that are not one rule's: the base of every rule's
parameters (the lifecycle settings), the heating schedule, the wire field names, curve points.

A rule's own parameter model lives in its module (:mod:`alerts.rules`), declared with its
:class:`~alerts.rules.spec.RuleSpec`; :mod:`alerts.config` assembles the rules file from those
declarations. This module imports nothing of either, so both can import it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.model import Severity

__all__ = ["CurvePoint", "FieldNames", "HeatingSchedule", "OffWindow", "ParamsModel",
           "RuleParams"]


class ParamsModel(BaseModel):
    """Frozen, and an unknown key is an error (a typo in the rules file must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleParams(ParamsModel):
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


class CurvePoint(ParamsModel):
    outdoor_c: float
    supply_c: float


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def _quoted_time(value: object) -> object:
    """Reject a number where a time of day belongs: YAML 1.1 reads an unquoted ``22:00`` as
    the sexagesimal number 1320, which pydantic would take as 00:22:00 without a word."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a time of day is a quoted 'HH:MM' string (got the number {value}; "
                         "unquoted 22:00 is the number 1320 in YAML)")
    return value


class OffWindow(ParamsModel):
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


class HeatingSchedule(ParamsModel):
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


class FieldNames(ParamsModel):
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
