"""A cheap pre-check of the station rules: which of them could say FIRE for a window right now.

The engine acts on a station rule's verdict only when it is FIRE or when that (rule, station)
already has a track (an open alert or recent flips); for every other station, the healthy
majority, the verdict is thrown away. So the engine asks :meth:`Screen.may_fire` first and
runs a rule's own ``evaluate`` only for the bits it returns (and for rules with a track).

The contract is one-sided: a bit may be set for a rule that would not fire (that only costs
its full evaluation), but a rule that would fire must never be left out. The screen states
each rule's FIRE condition once more, on the same window with the same arithmetic, with the
parameters of one effective rule set read once at construction instead of per rule and
reading; ``tests/alerts/test_alert_screen.py`` holds it to the rules on random windows
(sentinels, strings, booleans, non-finite values, missing fields, overrides, setback, off
windows, warm-up, setpoints, calibrated curves). The heating-regime gates (planned off,
idle, warm-up: :mod:`alerts.rules.regime`) are asked only once a rule's own condition holds,
through the same functions the rules call, so the healthy path stays as cheap as before.
A change to a rule's FIRE condition must be made here too; that test fails until it is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from alerts.config import FieldNames, RuleSet
from alerts.rules.outage import not_resumed
from alerts.rules.plausible import plausibility, sentinel_set
from alerts.rules.regime import heating_paused, switched_off
from alerts.schedule import heating_on, in_setback, planned_off
from alerts.window import FieldState, StationWindow

__all__ = ["Screen"]


def _num(state: FieldState | None) -> float | None:
    """:meth:`StationWindow.number` on a field state (finite numbers; bools are not)."""
    if state is None:
        return None
    v = state.value
    if type(v) is float:
        return v if v - v == 0.0 else None  # x - x is 0.0 exactly when x is finite
    if isinstance(v, bool | str):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class Screen:
    """The FIRE conditions of the station rules for one effective rule set.

    ``order`` names the rules in the engine's order; bit ``1 << i`` stands for ``order[i]``.
    Disabled rules (and names the screen does not know) never get a bit: the engine skips
    disabled rules anyway, and an unknown rule is always run (``always``).
    """

    def __init__(self, rules: RuleSet, names: FieldNames, order: Sequence[str]) -> None:
        bit = {name: 1 << i for i, name in enumerate(order)}
        known = {"power_loss", "pump_stopped", "makeup_surge", "pressure_drop", "tank_draining",
                 "supply_below_curve", "stuck_sensor", "out_of_range", "return_above_supply",
                 "heating_not_resumed"}
        self.always = sum(b for name, b in bit.items() if name not in known)

        def on(name: str) -> int:
            params = getattr(rules, name)
            return bit.get(name, 0) if params.enabled else 0

        self.rules, self.names = rules, names
        self.heating = rules.heating
        self._now = math.nan
        self._heating_on = self._setback = self._planned_off = False

        self.b_power = on("power_loss")
        self.b_pump = on("pump_stopped")
        self.b_makeup = on("makeup_surge")
        self.b_pressure = on("pressure_drop")
        self.b_tank = on("tank_draining")
        self.b_curve = on("supply_below_curve")
        self.b_stuck = on("stuck_sensor")
        self.b_range = on("out_of_range")
        self.b_return = on("return_above_supply")
        self.b_resume = on("heating_not_resumed")

        self.power_ok, self.pump_running = names.power_ok, names.pump_running
        self.flow, self.makeup_flow = names.flow, names.makeup_flow
        self.supply, self.return_ = names.supply_temp, names.return_temp
        self.primary_supply, self.primary_return = (names.primary_supply_temp,
                                                    names.primary_return_temp)
        self.outdoor = names.outdoor_temp
        self.setpoint, self.power = names.supply_setpoint, names.heat_power
        self.primary_flow = names.primary_flow
        self.pressure, self.tank = names.static_pressure, names.tank_level

        ps = rules.pump_stopped
        self.flow_min, self.flow_min_share, self.dt_min = ps.flow_min, ps.flow_min_share, ps.dt_min
        self.makeup_ratio = rules.makeup_surge.ratio
        pd = rules.pressure_drop
        self.floor_bar, self.max_fall_bar = pd.floor_bar, pd.max_fall_bar_per_min
        self.pressure_window, self.pressure_half = pd.window_s, pd.window_s / 2
        self.pressure_ok = plausibility(names.static_pressure, rules)
        td = rules.tank_draining
        self.tank_window, self.max_tank_fall = td.window_s, td.max_fall_per_min
        self.tank_half = td.window_s / 2
        self.tank_ok = plausibility(names.tank_level, rules)
        sb = rules.supply_below_curve
        # curve_setpoint's points as floats: same operations on the same numbers, same result
        points = tuple((p.outdoor_c, p.supply_c) for p in sb.calibrated_curve or sb.curve)
        self.curve_first, self.curve_last = points[0], points[-1]
        self.curve_pairs = tuple(itertools.pairwise(points))
        self.tolerance_k = sb.tolerance_k
        self.outdoor_ok = plausibility(names.outdoor_temp, rules)
        self.supply_ok = plausibility(names.supply_temp, rules)
        ss = rules.stuck_sensor
        self.stuck_fields, self.stuck_after = ss.fields, ss.stuck_after_s
        self.stuck_samples = ss.min_samples
        oor = rules.out_of_range
        self.sentinels = sentinel_set(oor.sentinels)
        # (field, min, max, (s - 0.001, s + 0.001) for each sentinel within 0.001 of the
        # range): round(v, 3) is within 0.0006 of v, so only a value inside one of those
        # intervals can round to a sentinel and needs the set test
        self.ranges = tuple(
            (name, r.min, r.max, tuple((x - 0.001, x + 0.001) for x in sorted(self.sentinels)
                                       if r.min - 0.001 <= x <= r.max + 0.001))
            for name, r in oor.ranges.items()
        )
        self.margin_k = rules.return_above_supply.margin_k
        self.primary_flow_min = rules.return_above_supply.primary_flow_min
        self.delivering_kw = rules.heating.delivering_kw

    def _clock(self, now: float) -> None:
        self._now = now
        self._heating_on = heating_on(now, self.heating)
        self._setback = in_setback(now, self.heating)
        self._planned_off = planned_off(now, self.heating)

    def _paused(self, window: StationWindow, now: float) -> bool:
        return self._planned_off or heating_paused(now, window, self.rules, self.names)

    def _floor(self, window: StationWindow) -> float:
        return (self.flow_min if window.design_flow is None
                else self.flow_min_share * window.design_flow)

    def may_fire(self, window: StationWindow, now: float) -> int:
        """Bits of the rules that may say FIRE for ``window`` at ``now`` (0: none can).

        Written for speed (every dirty station, every second): field reads are inlined as
        ``x = state.value`` with :func:`_num` only off the common path (a finite float).
        """
        if now != self._now:
            self._clock(now)
        get = window.fields.get
        mask = self.always

        # numbers several rules read, fetched once
        st = get(self.flow)
        flow = None if st is None else st.value
        if flow.__class__ is not float or flow - flow != 0.0:
            flow = _num(st)
        st = get(self.supply)
        supply = None if st is None else st.value
        if supply.__class__ is not float or supply - supply != 0.0:
            supply = _num(st)
        st = get(self.return_)
        ret = None if st is None else st.value
        if ret.__class__ is not float or ret - ret != 0.0:
            ret = _num(st)

        if self.b_power:  # flag(power_ok) is False
            st = get(self.power_ok)
            if st is not None:
                v = st.value
                if v is False or (v.__class__ is not bool
                                  and window.flag(self.power_ok) is False):
                    mask |= self.b_power

        if self.b_pump and self._heating_on:
            st = get(self.pump_running)
            running = None if st is None else st.value
            if running is False or (running is not None and running.__class__ is not bool
                                    and window.flag(self.pump_running) is False):
                if not self._paused(window, now):
                    mask |= self.b_pump
            elif (flow is not None and supply is not None and ret is not None
                  and flow < self._floor(window) and abs(supply - ret) < self.dt_min
                  and not self._paused(window, now)):
                mask |= self.b_pump

        if self.b_makeup and flow is not None:
            st = get(self.makeup_flow)
            makeup = None if st is None else st.value
            if makeup.__class__ is not float or makeup - makeup != 0.0:
                makeup = _num(st)
            if makeup is not None:
                base: float | None = flow
                if flow <= 0 or flow < self._floor(window) or window.delivering is False:
                    base = window.design_flow  # collapsed circulation: the design flow
                if base is not None and makeup / base >= self.makeup_ratio:
                    mask |= self.b_makeup

        history = window.history
        if self.b_pressure:
            st = get(self.pressure)
            pressure = None if st is None else st.value
            if pressure.__class__ is not float or pressure - pressure != 0.0:
                pressure = _num(st)
            if pressure is not None and self.pressure_ok(pressure):
                if pressure < self.floor_bar:
                    mask |= self.b_pressure
                else:
                    ring = history.get(self.pressure)
                    if ring is not None and ring.values:
                        # fall <= (top - newest) / (window / 2) * 60 when the newest sample is
                        # valid (v_i <= top, t_j - t_i >= window / 2, monotonic rounding): if
                        # that bound is within the limit, the rate cannot exceed it
                        last = ring.values[-1]
                        if (not self.pressure_ok(last) or not (ring.top - last)
                                / self.pressure_half * 60.0 <= self.max_fall_bar):
                            fall = window.fall_rate_per_min(
                                self.pressure, self.pressure_window, now, self.pressure_ok)
                            if fall is not None and fall > self.max_fall_bar:
                                mask |= self.b_pressure

        if self.b_tank:
            ring = history.get(self.tank)
            if ring is not None and ring.values:
                last = ring.values[-1]  # the same bound as for the pressure
                if (not self.tank_ok(last) or not (ring.top - last) / self.tank_half * 60.0
                        <= self.max_tank_fall):
                    fall = window.fall_rate_per_min(self.tank, self.tank_window, now,
                                                    self.tank_ok)
                    if fall is not None and fall > self.max_tank_fall:
                        mask |= self.b_tank

        if self.b_curve and self._heating_on and supply is not None:
            st = get(self.outdoor)
            outdoor = None if st is None else st.value
            if outdoor.__class__ is not float or outdoor - outdoor != 0.0:
                outdoor = _num(st)
            setpoint = _num(get(self.setpoint))
            if setpoint is not None and self.supply_ok(setpoint):
                # the controller's own setpoint: no setback (it has its own night reduction)
                if (setpoint - supply > self.tolerance_k
                        and (outdoor is None or self.outdoor_ok(outdoor))
                        and self.supply_ok(supply) and not switched_off(now, window, self.rules)
                        and not self._paused(window, now)):
                    mask |= self.b_curve
            elif outdoor is not None:
                # curve_setpoint(outdoor, curve), inlined
                if outdoor <= self.curve_first[0]:
                    setpoint = self.curve_first[1]
                elif outdoor >= self.curve_last[0]:
                    setpoint = self.curve_last[1]
                else:
                    setpoint = self.curve_last[1]
                    for (lo_o, lo_s), (hi_o, hi_s) in self.curve_pairs:
                        if lo_o <= outdoor <= hi_o:
                            setpoint = lo_s + (outdoor - lo_o) / (hi_o - lo_o) * (hi_s - lo_s)
                            break
                if self._setback:
                    setpoint -= self.heating.setback_k
                if (setpoint - supply > self.tolerance_k and self.outdoor_ok(outdoor)
                        and self.supply_ok(supply) and not switched_off(now, window, self.rules)
                        and not self._paused(window, now)):
                    mask |= self.b_curve

        if self.b_stuck and window.delivering is not False:
            for name in self.stuck_fields:
                st = get(name)
                if (st is not None and st.same_count >= self.stuck_samples
                        and st.ts - st.changed_at >= self.stuck_after
                        and not isinstance(st.value, bool | str)):
                    mask |= self.b_stuck
                    break

        if self.b_range:
            sentinels = self.sentinels
            for name, lo, hi, near in self.ranges:
                st = get(name)
                if st is None:
                    continue
                v = st.value
                if v.__class__ is float:
                    if lo <= v <= hi:
                        hit = False
                        for a, b in near:
                            if a <= v <= b:
                                hit = round(v, 3) in sentinels
                                break
                        if not hit:
                            continue
                    elif v - v != 0.0:
                        continue  # non-finite: no number, not out of range
                    mask |= self.b_range
                    break
                x = _num(st)
                if x is not None and (round(x, 3) in sentinels or not lo <= x <= hi):
                    mask |= self.b_range
                    break

        if self.b_return:
            margin = self.margin_k
            hot = False
            if supply is not None and ret is not None and ret > supply + margin:
                hot = self._circulates(window, flow, self._floor(window))
            if not hot:
                st = get(self.primary_supply)
                sup = None if st is None else st.value
                if sup.__class__ is not float or sup - sup != 0.0:
                    sup = _num(st)
                st = get(self.primary_return)
                pret = None if st is None else st.value
                if pret.__class__ is not float or pret - pret != 0.0:
                    pret = _num(st)
                if sup is not None and pret is not None and pret > sup + margin:
                    hot = self._circulates(window, _num(get(self.primary_flow)),
                                           self.primary_flow_min)
            if hot and not self._paused(window, now):
                mask |= self.b_return

        if (self.b_resume and window.delivering is False
                and not_resumed(now, window, self.rules, self.names) is not None):
            mask |= self.b_resume

        return mask

    def _circulates(self, window: StationWindow, flow: float | None, floor: float) -> bool:
        """The circuit's flow at or above ``floor``, else heat power at ``delivering_kw``."""
        if flow is not None:
            return flow >= floor
        power = _num(window.fields.get(self.power))
        return power is not None and power >= self.delivering_kw
