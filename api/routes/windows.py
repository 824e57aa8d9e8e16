"""``/windows``: maintenance windows (mute a station or zone for a while). Admin writes.

Windows are written through the alert store's API. The running engine loads windows when it
starts (and when it adds one itself); see docs/api.md for what that means for a window created
here while the engine runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel

from alerts.model import Scope
from api.deps import Admin, ServicesDep, Viewer
from api.errors import invalid
from api.schemas import WindowIn, WindowOut, errors

router = APIRouter(prefix="/windows", tags=["maintenance windows"])


class WindowEnded(BaseModel):
    id: int
    ended_at: datetime
    window: WindowOut | None = None
    note: str


@router.get("", response_model=list[WindowOut], summary="Maintenance windows")
def list_windows(
    services: ServicesDep,
    _: Viewer,
    include_ended: Annotated[bool, Query(description="also windows that are over")] = False,
) -> list[WindowOut]:
    now = services.clock()
    found = services.alerts.windows(not_ended_at=None if include_ended else now)
    return [WindowOut.of(w, now) for w in found]


@router.post("", response_model=WindowOut, status_code=status.HTTP_201_CREATED,
             summary="Create a window (admin)")
def create_window(
    services: ServicesDep, who: Admin, body: Annotated[WindowIn, Body()]
) -> WindowOut:
    """Mute notifications for a station or zone; alerts are still recorded meanwhile."""
    now = services.clock()
    reg = services.registry
    if len(reg):
        known = reg.get(body.target) is not None if body.scope == "station" else (
            body.target in reg.zones()
        )
        if not known:
            raise invalid("body", "target", f"no {body.scope} {body.target!r} in the registry")
    starts = body.starts_at.timestamp() if body.starts_at else now
    if body.ends_at is not None:
        ends = body.ends_at.timestamp()
    else:
        ends = starts + (body.duration_s or 0.0)
    if ends <= starts:
        raise invalid("body", "ends_at", "a window must end after it starts")
    if ends <= now:
        raise invalid("body", "ends_at", "the window would already be over")
    w = services.alerts.add_window(Scope(body.scope), body.target, starts, ends, body.reason,
                                   who.name)
    return WindowOut.of(w, now)


@router.post(
    "/{window_id}/end", response_model=WindowEnded, summary="End a window now (admin)",
    responses=errors(404, 409),
)
def end_window(
    services: ServicesDep, _: Admin, window_id: Annotated[int, Path(ge=1, le=2**62)]
) -> WindowEnded:
    """End a window now. A running window is kept as a record ending now (under a new id);
    one that has not started yet is deleted. 409 if it is already over."""
    now = services.clock()
    kept = services.alerts.end_window(window_id, now)
    return WindowEnded(
        id=window_id,
        ended_at=datetime.fromtimestamp(now, UTC),
        window=WindowOut.of(kept, now) if kept else None,
        note="ended; the record continues under window.id" if kept else
        "had not started; deleted",
    )
