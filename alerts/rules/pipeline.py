"""``pipeline_down``: the engine's own input went quiet.

When the broker is unreachable, or most stations fall silent at the same moment, the cause is
upstream of the stations (broker, network, collector). One root alert then replaces thousands
of station_offline alerts (which it inhibits), and the offline timers restart once data flows.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.config import PipelineParams
from alerts.model import Signal, Verdict
from alerts.rules.base import band

__all__ = ["InputState", "pipeline_verdict"]


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
