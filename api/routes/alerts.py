"""``/alerts``: filtered lists, one alert, its event history, acknowledge and un-acknowledge.

Reads and acks go through the alert store's API (:mod:`api.alertsdb`). The routes are plain
``def``: SQLite calls block, so FastAPI runs them in its thread pool instead of on the event
loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from alerts.model import AlertState
from alerts.rows import AlertFilter
from alerts.rules import FAMILIES
from api.deps import Crew, ServicesDep, Viewer
from api.errors import invalid
from api.schemas import (
    MAX_TIME,
    MIN_TIME,
    AckIn,
    AlertHistory,
    AlertOut,
    AlertPage,
    HistoryEntryOut,
    errors,
)
from heatwatch.registry import ID_PATTERN

router = APIRouter(prefix="/alerts", tags=["alerts"])

AlertId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="alert id")]
KINDS = sorted(set(FAMILIES) | set(FAMILIES.values()))


def _rules_for(kinds: list[str]) -> tuple[str, ...]:
    """Kinds are rule names (``pump_stopped``) or families (``leak``); both select rules."""
    out: set[str] = set()
    for k in kinds:
        if k in FAMILIES:
            out.add(k)
        elif k in FAMILIES.values():
            out.update(rule for rule, family in FAMILIES.items() if family == k)
        else:
            raise invalid("query", "kind", f"unknown kind {k!r}; one of {', '.join(KINDS)}")
    return tuple(sorted(out))


def _epoch(value: datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid("query", name, "give a time zone offset, like 2026-01-15T06:00:00Z")
    if not MIN_TIME <= value < MAX_TIME:
        raise invalid("query", name, "must be between 2000-01-01 and 2100-01-01")
    return value.timestamp()


@router.get("", response_model=AlertPage, summary="Alerts, newest first")
def list_alerts(
    services: ServicesDep,
    _: Viewer,
    state: Annotated[list[AlertState] | None, Query(description="repeatable")] = None,
    kind: Annotated[
        list[str] | None,
        Query(max_length=20, description=f"rule name or family, repeatable: {', '.join(KINDS)}"),
    ] = None,
    zone: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    station: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="still open at or after")] = None,
    until: Annotated[datetime | None, Query(description="became active before")] = None,
    acked: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Alerts overlapping [since, until), by state, kind, zone, station and ack status."""
    t0, t1 = _epoch(since, "since"), _epoch(until, "until")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise invalid("query", "until", "until must be after since")
    f = AlertFilter(
        states=tuple(state or ()), rules=_rules_for(kind or []), zone=zone, station=station,
        since=t0, until=t1, acked=acked, limit=limit, offset=offset,
    )
    if kind and not f.rules:
        return AlertPage(total=0, items=[])
    alerts, total = services.alerts.search(f)
    return AlertPage(total=total, items=[AlertOut.of(a) for a in alerts])


@router.get(
    "/{alert_id}", response_model=AlertOut, summary="One alert",
    responses=errors(404),
)
def get_alert(services: ServicesDep, _: Viewer, alert_id: AlertId) -> AlertOut:
    return AlertOut.of(services.alerts.get(alert_id))


@router.get(
    "/{alert_id}/history", response_model=AlertHistory, summary="An alert's events",
    responses=errors(404),
)
def alert_history(services: ServicesDep, _: Viewer, alert_id: AlertId) -> AlertHistory:
    """Every logged transition (pending, firing, severity, acknowledged, resolved...)."""
    events = services.alerts.history(alert_id)
    return AlertHistory(
        alert=AlertOut.of(services.alerts.get(alert_id)),
        events=[HistoryEntryOut.of(e) for e in events],
    )


@router.post(
    "/{alert_id}/ack", response_model=AlertOut, summary="Acknowledge (crew)",
    responses=errors(404, 409),
)
def ack_alert(
    services: ServicesDep, who: Crew, alert_id: AlertId, body: Annotated[AckIn, Body()]
) -> AlertOut:
    """Acknowledge an open alert with a comment and an optional assignee.

    Acking again replaces the comment and assignee. 409 if the alert is resolved.
    """
    alert = services.alerts.ack(alert_id, who.name, body.comment, body.assignee,
                                services.clock())
    return AlertOut.of(alert)


@router.delete(
    "/{alert_id}/ack", response_model=AlertOut, summary="Un-acknowledge (crew)",
    responses=errors(404, 409),
)
def unack_alert(services: ServicesDep, _: Crew, alert_id: AlertId) -> AlertOut:
    """Clear the ack of an open alert. 409 if it is resolved or not acknowledged."""
    return AlertOut.of(services.alerts.unack(alert_id, services.clock()))
