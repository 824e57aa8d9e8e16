"""Request and response bodies: the public contract, published in the OpenAPI document.

Times are ISO 8601 in UTC on the way out; on the way in they must carry an offset (``Z`` or
``+02:00``), because a naive time is ambiguous for a city that changes clocks twice a year.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from alerts.model import Alert
from alerts.rows import MaintenanceWindow
from alerts.rules import FAMILIES
from api.alertsdb import HistoryEntry
from heatwatch.registry import ID_PATTERN

__all__ = [
    "AckIn",
    "AlertHistory",
    "AlertOut",
    "AlertPage",
    "BacktestAlertOut",
    "BacktestIn",
    "BacktestOut",
    "ErrorOut",
    "FlatTemp",
    "HistoryOut",
    "HistoryPoint",
    "MeterOut",
    "RuleOut",
    "StationDetail",
    "StationList",
    "StationSummary",
    "WindowIn",
    "WindowOut",
    "ZoneDistribution",
    "ZoneSummary",
    "errors",
    "ts",
]

StationStatus = Literal["online", "offline", "alerting"]
Value = float | bool | str | None
# The API accepts times between these: outside, it is a typo or a fuzzer, not a question.
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def ts(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def check_time(value: datetime | None, name: str) -> None:
    if value is not None and not MIN_TIME <= value < MAX_TIME:
        raise ValueError(f"{name} must be between 2000-01-01 and 2100-01-01")


class ErrorOut(BaseModel):
    """Body of every 401, 403, 404, 409, 429 and 503 (422 uses FastAPI's list form)."""

    detail: str
    dependency: str | None = Field(default=None, description="503: which one is down")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, so clients see them documented."""
    text = {401: "no or unknown API key", 403: "the key's role is too low",
            404: "no such resource", 409: "conflicts with the resource's state",
            429: "another request of this kind is running",
            503: "InfluxDB or the alert store is unavailable"}
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class StationSummary(_Out):
    id: str
    name: str
    zone: str
    status: StationStatus = Field(
        description="offline: silent or reported offline; alerting: a firing alert; else online"
    )
    last_seen: datetime | None = Field(description="time of the last telemetry reading")
    last: dict[str, Value] = Field(description="latest value of each telemetry field")
    active_alerts: int = Field(description="open (pending or firing) alerts")
    worst_severity: str | None = None


class StationList(_Out):
    total: int = Field(description="stations matching the filters (before limit/offset)")
    as_of: datetime = Field(description="when the cached fleet snapshot was taken")
    items: list[StationSummary]


class MeterOut(_Out):
    id: str
    floor: int | None
    top_floor: bool
    gable_end: bool


class AlertOut(_Out):
    id: str
    rule: str
    family: str | None
    subject: str
    scope: str
    station: str | None
    zone: str | None
    state: str
    severity: str
    active_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    flapping: bool
    value: float | None
    summary: str
    annotations: dict[str, str]
    acked_by: str | None
    ack_comment: str | None
    acked_at: datetime | None
    assignee: str | None

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls(
            id=a.id, rule=a.rule, family=FAMILIES.get(a.rule), subject=a.subject,
            scope=a.scope.value, station=a.station, zone=a.zone, state=a.state.value,
            severity=a.severity.value, active_at=datetime.fromtimestamp(a.active_at, UTC),
            fired_at=ts(a.fired_at), resolved_at=ts(a.resolved_at), flapping=a.flapping,
            value=a.value, summary=a.summary, annotations=dict(a.annotations),
            acked_by=a.acked_by, ack_comment=a.ack_comment, acked_at=ts(a.acked_at),
            assignee=a.assignee,
        )


class StationDetail(StationSummary):
    registered: bool = Field(description="false: seen in data but missing from the registry")
    report_interval_s: float | None
    design_supply_temp: float | None
    design_return_temp: float | None
    design_flow: float | None
    meters: list[MeterOut]
    alerts: list[AlertOut] = Field(description="open alerts of this station")


class HistoryPoint(_Out):
    t: datetime
    value: float | None


class HistoryOut(_Out):
    station: str
    field: str
    unit: str
    agg: str
    resolution_s: int
    start: datetime
    end: datetime
    points: list[HistoryPoint]
    source: Literal["raw", "hourly"] = Field(
        default="raw", description="raw readings, or the hourly aggregates (long ranges)")


class ZoneSummary(_Out):
    id: str
    stations: int
    flats: int = Field(description="flats (meters) in the registry")


class FlatTemp(_Out):
    station: str
    meter: str
    indoor_temp: float
    last_seen: datetime
    floor: int | None = None
    top_floor: bool = False
    gable_end: bool = False


class ZoneDistribution(_Out):
    zone: str
    flats_reporting: int
    below_c: float
    below: int
    share_below: float | None = Field(description="share of reporting flats below below_c")
    min: float | None
    median: float | None
    max: float | None
    coldest: list[FlatTemp]


class AlertPage(_Out):
    total: int
    items: list[AlertOut]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=2000, description="what is being done")
    assignee: str | None = Field(
        default=None, min_length=1, max_length=64, description="who works on it"
    )


class HistoryEntryOut(_Out):
    event_id: int
    kind: str
    at: datetime
    muted: bool
    inhibited: bool
    state: str
    severity: str
    value: float | None
    summary: str
    acked_by: str | None
    ack_comment: str | None
    assignee: str | None

    @classmethod
    def of(cls, e: HistoryEntry) -> HistoryEntryOut:
        a = e.alert
        return cls(
            event_id=e.event_id, kind=e.kind, at=datetime.fromtimestamp(e.ts, UTC),
            muted=e.muted, inhibited=e.inhibited, state=a.state.value,
            severity=a.severity.value, value=a.value, summary=a.summary, acked_by=a.acked_by,
            ack_comment=a.ack_comment, assignee=a.assignee,
        )


class AlertHistory(_Out):
    alert: AlertOut
    events: list[HistoryEntryOut]


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["station", "zone"]
    target: str = Field(pattern=ID_PATTERN, description="station id or zone id")
    starts_at: AwareDatetime | None = Field(default=None, description="default: now")
    ends_at: AwareDatetime | None = None
    duration_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _one_end(self) -> WindowIn:
        if (self.ends_at is None) == (self.duration_s is None):
            raise ValueError("give exactly one of ends_at and duration_s")
        check_time(self.starts_at, "starts_at")
        check_time(self.ends_at, "ends_at")
        return self


class WindowOut(_Out):
    id: int
    scope: str
    target: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    active: bool

    @classmethod
    def of(cls, w: MaintenanceWindow, now: float) -> WindowOut:
        return cls(
            id=w.id, scope=w.scope.value, target=w.target,
            starts_at=datetime.fromtimestamp(w.starts_at, UTC),
            ends_at=datetime.fromtimestamp(w.ends_at, UTC), reason=w.reason,
            created_by=w.created_by, active=w.starts_at <= now < w.ends_at,
        )


class RuleOut(_Out):
    name: str
    family: str
    enabled: bool
    severity: str
    params: dict[str, Any] = Field(description="default parameters (before overrides)")
    zone_overrides: list[str]
    station_overrides: list[str]


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str | None = Field(
        default=None, pattern=r"^[a-z_]{1,64}$",
        description="report only this rule (all rules still run, so inhibition is as live)",
    )
    start: AwareDatetime
    end: AwareDatetime
    station: str | None = Field(default=None, pattern=ID_PATTERN)
    zone: str | None = Field(default=None, pattern=ID_PATTERN)
    step_s: float = Field(default=10.0, ge=1, le=300, description="evaluation interval")

    @model_validator(mode="after")
    def _period(self) -> BacktestIn:
        check_time(self.start, "start")
        check_time(self.end, "end")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BacktestAlertOut(_Out):
    id: str
    rule: str
    family: str | None
    subject: str
    station: str | None
    zone: str | None
    severity: str
    pending_at: datetime
    fired_at: datetime
    resolved_at: datetime | None = Field(description="null: still firing at the end")
    duration_s: float
    worst: float | None = Field(description="most extreme value the rule reported")
    summary: str
    flapping: bool


class BacktestOut(_Out):
    start: datetime
    end: datetime
    rule: str | None
    station: str | None
    zone: str | None
    step_s: float
    readings: int = Field(description="stored readings replayed")
    cancelled: int = Field(description="pending incidents that cleared before firing")
    alerts: list[BacktestAlertOut]
