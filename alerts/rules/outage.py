"""Outage rules: ``station_offline``, ``power_loss``, ``pump_stopped``."""

from __future__ import annotations

from alerts.config import FieldNames, PumpStopped, RuleParams, RuleSet, StationOffline
from alerts.model import Signal, Verdict
from alerts.rules.base import StationRule
from alerts.schedule import heating_on
from alerts.window import StationWindow

__all__ = ["PowerLossRule", "PumpStoppedRule", "offline_timeout", "offline_verdict"]


def offline_timeout(window: StationWindow, params: StationOffline) -> float:
    """Silence that counts as offline: several reporting intervals, never under a floor.

    A floor because stations that report every 10 s still miss a few messages on a broker
    reconnect; paging a crew for that would teach them to ignore the alert.
    """
    return max(params.intervals * window.report_interval_s, params.min_timeout_s)


def offline_verdict(
    now: float, window: StationWindow, params: StationOffline, resumed_at: float
) -> Verdict:
    """Offline when the last will says so (at once) or nothing arrived for the timeout.

    ``resumed_at`` is when the engine's input (re)started: silence before it is the pipeline's
    fault, not the station's, so the timer never starts earlier than that.
    """
    if window.status_offline:
        return Verdict(Signal.FIRE, summary=f"station {window.station} reported offline")
    last = window.seen_at
    since = resumed_at if last is None else max(last, resumed_at)
    silent = now - since
    if silent >= offline_timeout(window, params):
        return Verdict(
            Signal.FIRE,
            value=None if last is None else now - last,
            summary=f"no reading from station {window.station} for {silent:.0f} s",
        )
    return Verdict.clear()


class PowerLossRule(StationRule):
    name = "power_loss"
    family = "outage"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.power_loss

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        ok = window.flag(names.power_ok)
        if ok is None:
            return Verdict.hold()
        if ok:
            return Verdict.clear()
        return Verdict(Signal.FIRE, summary=f"station {window.station} lost mains power")


class PumpStoppedRule(StationRule):
    """Pump reports stopped, or the secondary circuit shows no flow and no temperature drop.

    The second form catches a pump whose status contact lies (runs dry, broken coupling).
    Only during the heating season: in summer a stopped pump is the plan.
    """

    name = "pump_stopped"
    family = "outage"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.pump_stopped

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        p: PumpStopped = rules.pump_stopped
        if not heating_on(now, rules.heating):
            return Verdict.clear()
        running = window.flag(names.pump_running)
        if running is False:
            return Verdict(Signal.FIRE, summary=f"circulation pump of {window.station} stopped")
        flow = window.number(names.flow)
        sup = window.number(names.supply_temp)
        ret = window.number(names.return_temp)
        if flow is None or sup is None or ret is None:
            return Verdict.clear() if running else Verdict.hold()
        floor = p.flow_min if window.design_flow is None else p.flow_min_share * window.design_flow
        if flow < floor and abs(sup - ret) < p.dt_min:
            return Verdict(
                Signal.FIRE,
                value=flow,
                summary=(
                    f"no circulation at {window.station}: flow {flow:.2f}, "
                    f"supply-return {sup - ret:.1f} K"
                ),
            )
        return Verdict.clear()
