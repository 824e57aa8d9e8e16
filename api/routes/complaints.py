"""``/complaints``: hotline tickets, the data's verdict on each at once, lifecycle and KPIs.

Taking a complaint needs the ``hotline`` role (or crew, admin); marking a visit or resolving
needs ``crew``. The verdict comes from the flat's sensor, its station and the open alerts
(:mod:`api.households`, :func:`households.verdict.judge`); with InfluxDB down the ticket is
still taken, with a verdict that says the data was not available. No verdict closes a ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.deps import Crew, Hotline, ServicesDep, Viewer
from api.errors import invalid
from api.households import evidence
from api.schemas import MAX_TIME, MIN_TIME, errors, ts
from heatwatch.influx import InfluxUnavailable
from heatwatch.registry import ID_PATTERN
from households.complaints import (
    Complaint,
    ComplaintConflict,
    ComplaintFilter,
    ComplaintNotFound,
    NewComplaint,
)
from households.verdict import Evidence, judge

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/complaints", tags=["complaints"])

Ticket = Annotated[str, Path(pattern=r"^T[0-9]{6,12}$", description="ticket id, like T000042")]
Status = Literal["open", "visited", "resolved"]
FUTURE_S = 300.0  # a caller's clock may run a little ahead; a call from tomorrow is a typo


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station: str = Field(pattern=ID_PATTERN, description="the flat's station (building)")
    meter: str | None = Field(default=None, pattern=ID_PATTERN,
                              description="the flat's sensor id, when it has one")
    address: str | None = Field(default=None, min_length=1, max_length=200,
                                description="free text (flat number, staircase) when no meter")
    reported_at: AwareDatetime | None = Field(default=None,
                                              description="when the resident called; default now")
    channel: Literal["12345", "phone", "app"]
    text: str = Field(min_length=1, max_length=2000, description="what the resident said")

    @model_validator(mode="after")
    def _flat(self) -> ComplaintIn:
        if self.meter is None and self.address is None:
            raise ValueError("give the flat's meter, or an address")
        if self.reported_at is not None and not MIN_TIME <= self.reported_at < MAX_TIME:
            raise ValueError("reported_at must be between 2000-01-01 and 2100-01-01")
        return self


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000, description="what the crew found or did")


class EventOut(BaseModel):
    kind: str
    at: datetime
    who: str
    note: str


class VerdictOut(BaseModel):
    finding: str = Field(description="cold | warm | no_sensor | no_data")
    cause: str = Field(description="station | building | unknown | none")
    temp_c: float | None
    hours_below_24h: float | None
    station_normal: bool | None
    alerts: list[str]
    text_en: str
    text_zh: str


class ComplaintOut(BaseModel):
    ticket: str
    station: str
    meter: str | None
    zone: str
    address: str | None
    reported_at: datetime
    received_at: datetime
    channel: str
    text: str
    created_by: str
    status: Status
    visited_at: datetime | None
    visited_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    verdict: VerdictOut
    events: list[EventOut] | None = Field(default=None, description="one ticket only")

    @classmethod
    def of(cls, c: Complaint, events: list[EventOut] | None = None) -> ComplaintOut:
        v = c.verdict
        return cls(
            ticket=c.ticket, station=c.station, meter=c.meter, zone=c.zone, address=c.address,
            reported_at=_dt(c.reported_at), received_at=_dt(c.received_at), channel=c.channel,
            text=c.text, created_by=c.created_by, status=c.status,  # type: ignore[arg-type]
            visited_at=ts(c.visited_at), visited_by=c.visited_by,
            resolved_at=ts(c.resolved_at), resolved_by=c.resolved_by,
            verdict=VerdictOut(finding=v["finding"], cause=v["cause"], temp_c=v["temp_c"],
                               hours_below_24h=v["hours_below_24h"],
                               station_normal=v["station_normal"], alerts=list(v["alerts"]),
                               text_en=v["text_en"], text_zh=v["text_zh"]),
            events=events)


class ComplaintPage(BaseModel):
    total: int
    items: list[ComplaintOut]


class FlatCount(BaseModel):
    station: str
    meter: str
    complaints: int


class KpisOut(BaseModel):
    since: datetime | None
    until: datetime | None
    complaints: int
    open: int
    visited: int
    resolved: int
    share_resolved: float | None
    first_visit_h_median: float | None = Field(description="reported -> first crew visit")
    first_visit_h_p90: float | None
    resolve_h_median: float | None = Field(description="reported -> resolved")
    resolve_h_p90: float | None
    repeat_complaints: int = Field(description="complaints on a flat that already had one")
    repeat_flats: int = Field(description="flats with more than one complaint")
    worst_flats: list[FlatCount]
    findings: dict[str, int] = Field(description="complaints per verdict finding")


def _dt(epoch: float) -> datetime:
    out = ts(epoch)
    assert out is not None
    return out


def _epoch(value: datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid("query", name, "give a time zone offset, like 2026-01-15T06:00:00Z")
    if not MIN_TIME <= value < MAX_TIME:
        raise invalid("query", name, "must be between 2000-01-01 and 2100-01-01")
    return value.timestamp()


@contextmanager
def _ticket_errors() -> Iterator[None]:
    try:
        yield
    except ComplaintNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"not found: {exc.args[0]}") from exc
    except ComplaintConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post("", response_model=ComplaintOut, status_code=status.HTTP_201_CREATED,
             summary="Take a complaint (hotline): a ticket and the data's verdict",
             responses=errors(409))
async def take_complaint(services: ServicesDep, who: Hotline,
                         body: Annotated[ComplaintIn, Body()]) -> ComplaintOut:
    """Stores the complaint as an ``open`` ticket and answers with the data's verdict, in
    English and Chinese, for the operator to read out. A flat without a sensor, or whose sensor
    says warm, is a ticket like any other: only a person closes it."""
    station = services.registry.get(body.station)
    if station is None:
        raise invalid("body", "station", f"unknown station {body.station!r}")
    if body.meter is not None and all(m.id != body.meter for m in station.meters):
        raise invalid("body", "meter",
                      f"station {body.station!r} has no meter {body.meter!r}; "
                      "give an address for a flat without a sensor")
    now = services.clock()
    if body.reported_at is not None and body.reported_at.timestamp() > now + FUTURE_S:
        raise invalid("body", "reported_at", "reported_at is in the future")
    try:
        ev = await evidence(services, station.id, body.meter, now)
    except InfluxUnavailable as exc:  # the ticket is taken all the same
        log.warning("complaint verdict without data: %s", exc.detail)
        ev = Evidence(now=now, has_sensor=body.meter is not None, samples=[], station=None)
    verdict = judge(ev, services.comfort.ledger)
    reported = body.reported_at.timestamp() if body.reported_at is not None else now
    new = NewComplaint(station=station.id, zone=station.zone, meter=body.meter,
                       address=body.address, reported_at=reported, channel=body.channel,
                       text=body.text)
    return ComplaintOut.of(services.complaints.add(new, verdict, who.name, now))


@router.get("", response_model=ComplaintPage, summary="Complaints, newest first (hotline)")
def list_complaints(
    services: ServicesDep,
    _: Hotline,
    status_: Annotated[list[Status] | None, Query(alias="status",
                                                  description="repeatable")] = None,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    meter: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="reported at or after")] = None,
    until: Annotated[datetime | None, Query(description="reported before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ComplaintPage:
    f = ComplaintFilter(status=tuple(status_ or ()), zone=zone, station=station, meter=meter,
                        since=_epoch(since, "since"), until=_epoch(until, "until"),
                        limit=limit, offset=offset)
    items, total = services.complaints.search(f)
    return ComplaintPage(total=total, items=[ComplaintOut.of(c) for c in items])


@router.get("/kpis", response_model=KpisOut, summary="Complaint KPIs of a period")
def complaint_kpis(
    services: ServicesDep,
    _: Viewer,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="reported at or after")] = None,
    until: Annotated[datetime | None, Query(description="reported before")] = None,
) -> KpisOut:
    """Time to first visit and to resolve (median, 90th percentile, hours), share resolved and
    repeat complaints per flat, over the complaints reported in ``[since, until)``."""
    t0, t1 = _epoch(since, "since"), _epoch(until, "until")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise invalid("query", "until", "until must be after since")
    k = services.complaints.kpis(ComplaintFilter(zone=zone, station=station, since=t0,
                                                 until=t1))
    data: dict[str, Any] = {
        name: getattr(k, name) for name in KpisOut.model_fields
        if name not in ("since", "until", "worst_flats")}
    return KpisOut(since=since, until=until, **data,
                   worst_flats=[FlatCount(station=s, meter=m, complaints=n)
                                for s, m, n in k.worst_flats])


@router.get("/{ticket}", response_model=ComplaintOut, summary="One ticket with its events",
            responses=errors(404))
def get_complaint(services: ServicesDep, _: Hotline, ticket: Ticket) -> ComplaintOut:
    with _ticket_errors():
        c = services.complaints.get(ticket)
        events = [EventOut(kind=e.kind, at=_dt(e.at), who=e.who, note=e.note)
                  for e in services.complaints.events(ticket)]
    return ComplaintOut.of(c, events)


@router.post("/{ticket}/visit", response_model=ComplaintOut,
             summary="A crew visited the flat (crew)", responses=errors(404, 409))
def visit_complaint(services: ServicesDep, who: Crew, ticket: Ticket,
                    body: Annotated[NoteIn, Body()]) -> ComplaintOut:
    """The first visit moves the ticket to ``visited`` (time to first visit); later visits are
    recorded as events. 409 on a resolved ticket."""
    with _ticket_errors():
        return ComplaintOut.of(services.complaints.visit(ticket, who.name, body.note,
                                                         services.clock()))


@router.post("/{ticket}/resolve", response_model=ComplaintOut,
             summary="Resolve a ticket (crew)", responses=errors(404, 409))
def resolve_complaint(services: ServicesDep, who: Crew, ticket: Ticket,
                      body: Annotated[NoteIn, Body()]) -> ComplaintOut:
    """Closed by a person with a note saying what was done. 409 if already resolved."""
    with _ticket_errors():
        return ComplaintOut.of(services.complaints.resolve(ticket, who.name, body.note,
                                                           services.clock()))

