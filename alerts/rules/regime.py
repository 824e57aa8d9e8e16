"""Heating regimes shared by the rules and the screen: the supply reference, the warm-up after
heating resumes, and when heating-dependent rules must keep quiet.

Real stations switch heating off at night and restart it in the early morning; while they
restart, supply climbs for about an hour and the primary return can be hotter than the primary
supply for a few samples. None of that is a fault, so rules that judge a *running* heating
(``supply_below_curve``, ``pump_stopped``, ``return_above_supply``) say CLEAR while heating is
planned off (``heating.off_windows``) or warming up, and ``supply_below_curve`` also while the
station is switched off (the data say it has not delivered heat for ``switch_off_min_s``:
``heating_not_resumed`` judges that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from alerts.params import FieldNames
from alerts.rules.plausible import plausible
from alerts.schedule import curve_setpoint, in_setback, last_off_end, planned_off
from alerts.window import StationWindow

if TYPE_CHECKING:  # the rules' modules import this one: their parameters by name here
    from alerts.config import RuleSet
    from alerts.rules.outage import PumpStopped
    from alerts.rules.temperature import SupplyBelowCurve

__all__ = [
    "curve_reference", "flow_floor", "heating_paused", "supply_reference", "switched_off",
    "warming_up",
]


def supply_reference(
    now: float, window: StationWindow, rules: RuleSet, names: FieldNames
) -> tuple[float, str] | None:
    """What the secondary supply should be, and which reference said so.

    The station controller's own ``supply_setpoint`` when the reading carries one (its night
    reduction is already in it, so the setback is not applied again), else the station's
    ``calibrated_curve``, else the zone/default ``curve``; both curves are lowered by
    ``setback_k`` during the setback. None without a setpoint and without an outdoor reading.
    """
    setpoint = window.number(names.supply_setpoint)
    if setpoint is not None and plausible(names.supply_temp, setpoint, rules):
        return setpoint, "setpoint"
    outdoor = window.number(names.outdoor_temp)
    if outdoor is None:
        return None
    return curve_reference(now, outdoor, rules)


def curve_reference(now: float, outdoor: float, rules: RuleSet) -> tuple[float, str]:
    """The curve part of :func:`supply_reference` for an outdoor temperature: the station's
    ``calibrated_curve``, else the zone/default ``curve``, lowered by ``setback_k`` during
    the setback. The forecast asks it for future hours with the forecast outdoor temperature.
    """
    p = cast("SupplyBelowCurve", rules.block("supply_below_curve"))
    if p.calibrated_curve is not None:
        value, ref = curve_setpoint(outdoor, p.calibrated_curve), "calibrated"
    else:
        value, ref = curve_setpoint(outdoor, p.curve), "curve"
    if in_setback(now, rules.heating):
        value -= rules.heating.setback_k
    return value, ref


def warming_up(now: float, window: StationWindow, rules: RuleSet, names: FieldNames) -> bool:
    """True during the warm-up after heating resumed: for ``warmup_s`` after the later of the
    last planned off window's end and the last restart seen in the data, or until supply has
    been within ``supply_below_curve.tolerance_k`` of its reference, whichever is first.

    "Has been": the highest supply since that restart (when the restart belongs to this
    warm-up) or the current one, so a supply that reached its target and then fell away is
    judged at once. Without a supply or a reference the warm-up lasts its full time.
    """
    h = rules.heating
    resumed = window.resumed_at
    start = resumed
    end = last_off_end(now, h)
    if end is not None and (start is None or end > start):
        start = end
    if start is None or now - start >= h.warmup_s:
        return False
    supply = window.number(names.supply_temp)
    ref = supply_reference(now, window, rules, names)
    if supply is None or ref is None:
        return True
    if resumed is not None and start - resumed < h.warmup_s and window.supply_peak > supply:
        supply = window.supply_peak
    tolerance = cast("SupplyBelowCurve", rules.block("supply_below_curve")).tolerance_k
    return ref[0] - supply > tolerance


def switched_off(now: float, window: StationWindow, rules: RuleSet) -> bool:
    """Idle (not delivering heat) for possibly ``heating.switch_off_min_s`` or more: switched
    off, on purpose or not (``heating_not_resumed`` judges which). A shorter idle stretch is
    a dip in heat power, and a fault that cools the primary looks just like that at first.

    "Possibly": counted from the last reading that still delivered, since the switch-off may
    have come right after it; an hourly station idle at one reading may have been off for an
    hour, and on a mild afternoon it was (it raised supply_below_curve at every one).
    """
    if window.delivering is not False:
        return False
    last = window.delivered_at
    return last is None or now - last >= rules.heating.switch_off_min_s


def heating_paused(now: float, window: StationWindow, rules: RuleSet, names: FieldNames) -> bool:
    """Planned off or warming up: heating-dependent rules do not fire."""
    return planned_off(now, rules.heating) or warming_up(now, window, rules, names)


def flow_floor(window: StationWindow, p: PumpStopped) -> float:
    """Secondary flow under this has collapsed: a share of the design flow, or ``flow_min``."""
    return p.flow_min if window.design_flow is None else p.flow_min_share * window.design_flow
