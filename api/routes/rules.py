"""``/rules``: the alert rules in force, and backtesting (admin).

Backtesting belongs to the alert engine: if ``alerts`` does not provide it, the API says so
with a 501 instead of inventing results.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from alerts.config import RuleParams
from alerts.rules import FAMILIES
from api.deps import Admin, ServicesDep, Viewer
from api.errors import invalid
from api.schemas import BacktestIn, RuleOut, errors

router = APIRouter(prefix="/rules", tags=["rules"])

PIPELINE = "pipeline_down"


@router.get("", response_model=list[RuleOut], summary="Alert rules and their defaults")
def list_rules(services: ServicesDep, _: Viewer) -> list[RuleOut]:
    rules = services.rules
    out = []
    for name, family in sorted(FAMILIES.items()):
        params: RuleParams = rules.pipeline if name == PIPELINE else getattr(rules.defaults, name)
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
    "/backtest", summary="Backtest a rule (admin; 501 until the engine provides it)",
    status_code=501, responses=errors(501),
)
def backtest(_: Admin, body: Annotated[BacktestIn, Body()]) -> JSONResponse:
    """Validates the request, then answers 501: ``alerts`` has no backtest function yet."""
    if body.rule not in FAMILIES:
        raise invalid("body", "rule", f"unknown rule; one of {', '.join(sorted(FAMILIES))}")
    if body.end <= body.start:
        raise invalid("body", "end", "end must be after start")
    return JSONResponse(
        {
            "detail": "backtesting is not implemented: the alert engine does not expose a "
            "backtest function yet, and the API will not fake results",
        },
        status_code=501,
    )
