"""``pipeline_down``: the engine's own input went quiet.

When the broker is unreachable, or most stations fall silent at the same moment, the cause is
upstream of the stations (broker, network, collector). One root alert then replaces thousands
of station_offline alerts (which it inhibits), and the offline timers restart once data flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from alerts.model import Scope, Severity, Signal, Verdict
from alerts.params import RuleParams
from alerts.rules.base import band
from alerts.rules.spec import RuleSpec

__all__ = ["PIPELINE_DOWN", "RULES", "InputState", "PipelineParams", "pipeline_verdict"]


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




@dataclass(slots=True)
class InputState:
    """What the engine knows about its own input, fed by the service that owns the broker."""

    connected: bool = True
    changed_at: float | None = None  # when ``connected`` last changed


def pipeline_verdict(
    now: float, state: InputState, silent: int, known: int, params: PipelineParams
) -> Verdict:
    broker_down = (
        not state.connected
        and now - (state.changed_at if state.changed_at is not None else now)
        >= params.broker_down_after_s
    )
    enough = known >= params.min_stations
    share = silent / known if known else 0.0
    mass_silence = enough and share >= params.silent_share
    recovered = state.connected and (not enough or share <= params.recover_share)
    signal = band(broker_down or mass_silence, recovered)
    if signal is not Signal.FIRE:
        return Verdict(signal)
    why = "broker unreachable" if broker_down else f"{silent} of {known} stations silent"
    return Verdict(
        Signal.FIRE,
        value=share,
        summary=f"alert engine input is down: {why}",
        annotations=(("silent_stations", str(silent)), ("known_stations", str(known))),
    )


PIPELINE_DOWN = RuleSpec(
    name="pipeline_down", family="pipeline", model=PipelineParams, scope=Scope.GLOBAL,
    order=130, section="pipeline",
)  # global, one setting (the rules file's top-level `pipeline`): the engine steps it
RULES: tuple[RuleSpec[Any], ...] = (PIPELINE_DOWN,)
