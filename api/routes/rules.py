"""``/rules``: the alert rules in force, and backtesting them on stored history (admin).

Backtesting belongs to the alert engine: the API only validates, bounds and runs
:func:`alerts.backtest.backtest` (the same function as ``heatwatch rules backtest``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, HTTPException, status

from alerts.backtest import BacktestResult, backtest
from alerts.config import RuleParams
from alerts.history import HistorySource, HistoryUnavailable
from alerts.rules import FAMILIES
from api.deps import Admin, Services, ServicesDep, Viewer
from api.errors import invalid
from api.schemas import BacktestAlertOut, BacktestIn, BacktestOut, RuleOut, errors
from heatwatch.influx import InfluxUnavailable

router = APIRouter(prefix="/rules", tags=["rules"])


@router.get("", response_model=list[RuleOut], summary="Alert rules and their defaults")
def list_rules(services: ServicesDep, _: Viewer) -> list[RuleOut]:
    rules = services.rules
    out = []
    for name, family in sorted(FAMILIES.items()):
        params: RuleParams = rules.defaults_of(name)
        data: dict[str, Any] = params.model_dump(mode="json")
        out.append(RuleOut(
            name=name, family=family, enabled=params.enabled, severity=params.severity.value,
            params={k: v for k, v in data.items() if k not in ("enabled", "severity")},
            zone_overrides=sorted(z for z, rs in rules.zones.items()
                                  if name in rs.model_fields_set),
            station_overrides=sorted(s for s, rs in rules.stations.items()
                                     if name in rs.model_fields_set),
        ))
    return out


@router.post(
    "/backtest", response_model=BacktestOut, summary="Backtest the rules on stored history (admin)",
    responses=errors(429),
)
async def run_backtest(
    services: ServicesDep, _: Admin, body: Annotated[BacktestIn, Body()]
) -> BacktestOut:
    """Replay the stored readings of ``[start, end)`` through the real alert engine
    (:func:`alerts.backtest.backtest`: throw-away state, nothing notified) and list the alerts
    that would have fired. One backtest at a time; 503 if InfluxDB cannot answer (a backtest
    with holes would report alerts that never were)."""
    if body.rule is not None and body.rule not in FAMILIES:
        raise invalid("body", "rule", f"unknown rule; one of {', '.join(sorted(FAMILIES))}")
    limits = services.settings.backtest
    wide = body.station is None
    longest = limits.max_wide_period_s if wide else limits.max_period_s
    if (body.end - body.start).total_seconds() > longest:
        what = "a zone or the fleet" if wide else "one station"
        raise invalid("body", "end", f"the period may be at most {longest:g} s for {what}; "
                      "use 'heatwatch rules backtest' for longer ones")
    if not services.backtest_lock.acquire(blocking=False):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "a backtest is already running; try again when it has finished")
    try:
        result = await anyio.to_thread.run_sync(partial(_replay, services, body))
    finally:
        services.backtest_lock.release()
    end = body.end.timestamp()
    return BacktestOut(
        start=body.start, end=body.end, rule=body.rule, station=body.station, zone=body.zone,
        step_s=body.step_s, readings=result.readings, cancelled=result.cancelled,
        alerts=[
            BacktestAlertOut(
                id=a.id, rule=a.rule, family=FAMILIES.get(a.rule), subject=a.subject,
                station=a.station, zone=a.zone, severity=a.severity.value,
                pending_at=datetime.fromtimestamp(a.pending_at, UTC),
                fired_at=datetime.fromtimestamp(a.start, UTC),
                resolved_at=None if a.end is None else datetime.fromtimestamp(a.end, UTC),
                duration_s=a.duration(end),
                worst=a.worst if a.worst is None or math.isfinite(a.worst) else None,
                summary=a.summary, flapping=a.flapping,
            )
            for a in result.alerts
        ],
    )


def _replay(services: Services, body: BacktestIn) -> BacktestResult:
    """Runs in a worker thread: the engine and the history client are synchronous."""
    source = HistorySource(services.settings.influx,
                           timeout=services.settings.backtest.query_timeout_s)
    try:
        return backtest(
            services.rules, source, body.start.timestamp(), body.end.timestamp(),
            zone=body.zone, station=body.station, registry=services.registry, rule=body.rule,
            step_s=body.step_s,
        )
    except HistoryUnavailable as exc:
        raise InfluxUnavailable(f"backtest: {exc}") from exc
    finally:
        source.close()
