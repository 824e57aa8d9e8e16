"""Outage rules: ``station_offline``, ``power_loss``, ``pump_stopped``,
``heating_not_resumed``."""

from __future__ import annotations

from alerts.config import FieldNames, PumpStopped, RuleParams, RuleSet, StationOffline
from alerts.model import Signal, Verdict
from alerts.rules.base import StationRule
from alerts.rules.regime import flow_floor, heating_paused
from alerts.schedule import heating_on, last_off_end, local_time, planned_off
from alerts.window import StationWindow

__all__ = [
    "HeatingNotResumedRule", "PowerLossRule", "PumpStoppedRule", "not_resumed",
    "offline_timeout", "offline_verdict",
]


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
    Only during the heating season and not while heating is planned off or warming up: then
    a stopped pump is the plan. A station without pump status and without flow gets no
    verdict (HOLD).
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
            if heating_paused(now, window, rules, names):
                return Verdict.clear()
            return Verdict(Signal.FIRE, summary=f"circulation pump of {window.station} stopped")
        flow = window.number(names.flow)
        sup = window.number(names.supply_temp)
        ret = window.number(names.return_temp)
        if flow is None or sup is None or ret is None:
            return Verdict.clear() if running else Verdict.hold()
        if flow < flow_floor(window, p) and abs(sup - ret) < p.dt_min:
            if heating_paused(now, window, rules, names):
                return Verdict.clear()
            return Verdict(
                Signal.FIRE,
                value=flow,
                summary=(
                    f"no circulation at {window.station}: flow {flow:.2f}, "
                    f"supply-return {sup - ret:.1f} K"
                ),
            )
        return Verdict.clear()


def not_resumed(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> tuple[float, str, float | None] | None:
    """``(idle seconds, why, window end)`` when ``heating_not_resumed``'s condition holds.

    ``why`` is ``after_window`` (idle since before the last planned off window ended, and
    still idle ``after_window_s`` after its end) or ``unplanned`` (idle ``unplanned_s`` outside
    any planned window). Only in the heating season, outside the off windows, and only while
    the outdoor mean (``StationWindow.outdoor_avg``) is under ``max_outdoor_c`` (unknown
    outdoor: judged).
    """
    idle = window.idle_since
    if idle is None or window.delivering is not False:
        return None
    h = rules.heating
    if not heating_on(now, h) or planned_off(now, h):
        return None
    p = rules.heating_not_resumed
    outdoor = window.outdoor_avg
    if outdoor is not None and outdoor >= p.max_outdoor_c:
        return None
    end = last_off_end(now, h)
    if end is not None and idle <= end and now - end >= p.after_window_s:
        return now - idle, "after_window", end
    if now - idle >= p.unplanned_s:
        return now - idle, "unplanned", end
    return None


class HeatingNotResumedRule(StationRule):
    """The station delivers no heat when it should: it did not come back after its planned
    off window, or it has been off for long outside any plan, while it is cold outside.

    "Delivering" comes from the data (:class:`~alerts.window.StationWindow`: heat power, or
    the secondary supply-return difference). CLEAR once it delivers again, inside an off
    window and out of season; HOLD while idle but not (yet) an outage, so an alert stays open
    until heating is back (a mild afternoon does not resolve it).
    """

    name = "heating_not_resumed"
    family = "outage"

    def params(self, rules: RuleSet) -> RuleParams:
        return rules.heating_not_resumed

    def evaluate(
        self, now: float, window: StationWindow, rules: RuleSet, names: FieldNames
    ) -> Verdict:
        if window.delivering is not False:
            return Verdict.clear() if window.delivering else Verdict.hold()
        h = rules.heating
        if not heating_on(now, h) or planned_off(now, h):
            return Verdict.clear()
        found = not_resumed(now, window, rules, names)
        if found is None:
            return Verdict.hold()
        idle_s, why, end = found
        outdoor = window.outdoor_avg
        where = (
            "after its planned off window" if why == "after_window"
            else "outside any planned off window"
        )
        ann: list[tuple[str, str]] = [("why", why)]
        if why == "after_window" and end is not None:
            local = local_time(end, h)
            ann.append(("window_end", f"{local:%H:%M}"))
        if outdoor is not None:
            ann.append(("outdoor_c", f"{outdoor:.1f}"))
        return Verdict(
            Signal.FIRE,
            value=idle_s,
            summary=(
                f"no heat delivered at {window.station} for {idle_s / 60:.0f} min {where}"
                + ("" if outdoor is None else f" ({outdoor:.1f} °C outside on average)")
            ),
            annotations=tuple(ann),
        )
