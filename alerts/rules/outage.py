"""Outage rules: ``station_offline``, ``power_loss``, ``pump_stopped``,
``heating_not_resumed``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from alerts.model import Severity, Signal, Verdict
from alerts.params import FieldNames, RuleParams
from alerts.rules.regime import flow_floor, heating_paused
from alerts.rules.spec import PlotPanel, Prescreen, Published, RuleSpec, ScreenContext
from alerts.schedule import heating_on, last_off_end, local_time, planned_off
from alerts.window import StationWindow

if TYPE_CHECKING:
    from alerts.config import RuleSet

__all__ = [
    "HEATING_NOT_RESUMED", "POWER_LOSS", "PUMP_STOPPED", "RULES", "STATION_OFFLINE",
    "HeatingNotResumed", "PowerLoss", "PumpStopped", "StationOffline", "not_resumed",
    "offline_timeout", "offline_verdict",
]


class StationOffline(RuleParams):
    severity: Severity = Severity.CRITICAL
    intervals: float = Field(default=3.0, gt=0, description="missed reporting intervals")
    min_timeout_s: float = Field(default=60.0, gt=0)


class PowerLoss(RuleParams):
    severity: Severity = Severity.CRITICAL


class PumpStopped(RuleParams):
    severity: Severity = Severity.CRITICAL
    for_s: float = 120.0
    flow_min: float = Field(default=0.1, ge=0, description="m³/h; 'zero' flow if no design")
    flow_min_share: float = Field(default=0.05, ge=0, le=1, description="of design flow")
    dt_min: float = Field(default=2.0, ge=0, description="collapsed supply-return K")


class HeatingNotResumed(RuleParams):
    """``heating_not_resumed``: the station is not delivering heat when it should.

    Two clocks, because the two cases differ in how sure we can be. After a planned off window
    ends, heat is owed: ``after_window_s`` later it is an outage. Off outside any planned window
    may be a night shutdown nobody configured (most stations do it): only ``unplanned_s`` of
    idleness counts, longer than such a night (7-8 h on real stations). Either way only while
    the outdoor temperature, averaged over ``outdoor_avg_s`` (an exponential mean: a cold
    dawn on a mild October day is not a cold day), is under ``max_outdoor_c``: utilities
    switch mild days off on purpose.
    """

    severity: Severity = Severity.CRITICAL
    after_window_s: float = Field(default=3600.0, ge=0, description="after a planned window")
    unplanned_s: float = Field(default=32400.0, gt=0, description="idle outside any plan")
    max_outdoor_c: float = Field(default=5.0, description="judged only colder than this")
    outdoor_avg_s: float = Field(default=43200.0, gt=0, description="outdoor mean time constant")




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


def power_loss(now: float, window: StationWindow, rules: RuleSet, names: FieldNames) -> Verdict:
    """The station says it lost mains power (``power_ok`` false; running on a backup)."""
    ok = window.flag(names.power_ok)
    if ok is None:
        return Verdict.hold()
    if ok:
        return Verdict.clear()
    return Verdict(Signal.FIRE, summary=f"station {window.station} lost mains power")


def power_loss_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    field = names.power_ok

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        st = ctx.get(field)
        if st is None:
            return False
        v = st.value  # flag(power_ok) is False
        return v is False or (v.__class__ is not bool and window.flag(field) is False)

    return check


def pump_stopped(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """Pump reports stopped, or the secondary circuit shows no flow and no temperature drop.

    The second form catches a pump whose status contact lies (runs dry, broken coupling).
    Only during the heating season and not while heating is planned off or warming up: then
    a stopped pump is the plan. A station without pump status and without flow gets no
    verdict (HOLD).
    """
    p = PUMP_STOPPED.params(rules)
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


def pump_stopped_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    p = PUMP_STOPPED.params(rules)
    flow_min, share, dt_min = p.flow_min, p.flow_min_share, p.dt_min
    field = names.pump_running

    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        if not ctx.heating_on:
            return False
        st = ctx.get(field)
        running = None if st is None else st.value
        if running is False or (running is not None and running.__class__ is not bool
                                and window.flag(field) is False):
            return not ctx.paused(window, now)
        flow, supply, ret = ctx.flow, ctx.supply, ctx.ret
        design = window.design_flow
        return (flow is not None and supply is not None and ret is not None
                and flow < (flow_min if design is None else share * design)
                and abs(supply - ret) < dt_min and not ctx.paused(window, now))

    return check


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
    p = HEATING_NOT_RESUMED.params(rules)
    outdoor = window.outdoor_avg
    if outdoor is not None and outdoor >= p.max_outdoor_c:
        return None
    end = last_off_end(now, h)
    if end is not None and idle <= end and now - end >= p.after_window_s:
        return now - idle, "after_window", end
    if now - idle >= p.unplanned_s:
        return now - idle, "unplanned", end
    return None


def heating_not_resumed(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> Verdict:
    """The station delivers no heat when it should: it did not come back after its planned
    off window, or it has been off for long outside any plan, while it is cold outside.

    "Delivering" comes from the data (:class:`~alerts.window.StationWindow`: heat power, or
    the secondary supply-return difference). CLEAR once it delivers again, inside an off
    window and out of season; HOLD while idle but not (yet) an outage, so an alert stays open
    until heating is back (a mild afternoon does not resolve it).
    """
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


def heating_not_resumed_screen(rules: RuleSet, names: FieldNames) -> Prescreen:
    def check(window: StationWindow, now: float, ctx: ScreenContext) -> bool:
        # not_resumed's own gates first, the schedule's from the context's per-instant cache:
        # a station idle through its planned night is asked at every reading of the night
        return (window.delivering is False and window.idle_since is not None
                and ctx.heating_on and not ctx.planned_off
                and not_resumed(now, window, rules, names) is not None)

    return check


def _power_off(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    return not pub.flag(names.power_ok)


def _pump_off(pub: Published, rules: RuleSet, names: FieldNames) -> bool:
    return not pub.flag(names.pump_running)


STATION_OFFLINE = RuleSpec(
    name="station_offline", family="outage", model=StationOffline, order=10,
)  # time-driven: the engine steps it per station (offline_verdict), silent ones included
POWER_LOSS = RuleSpec(
    name="power_loss", family="outage", model=PowerLoss, order=20,
    verdict=power_loss, screen=power_loss_screen, onset=_power_off,
)
PUMP_STOPPED = RuleSpec(
    name="pump_stopped", family="outage", model=PumpStopped, order=30,
    verdict=pump_stopped, screen=pump_stopped_screen, onset=_pump_off,
    plot=PlotPanel.FLOW,
)
HEATING_NOT_RESUMED = RuleSpec(
    name="heating_not_resumed", family="outage", model=HeatingNotResumed, order=120,
    verdict=heating_not_resumed, screen=heating_not_resumed_screen,
    plot=PlotPanel.PRIMARY,
)
RULES: tuple[RuleSpec[Any], ...] = (STATION_OFFLINE, POWER_LOSS, PUMP_STOPPED,
                                    HEATING_NOT_RESUMED)
