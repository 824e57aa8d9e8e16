"""Per-station heating regimes: what each station does at night and what it reports.

Real stations differ (measured on five real substations, docs/simulators.md): most switch the
heating off at night and restart it in the early morning with a transient, others run through
with a reduced setpoint; some report their controller's setpoint, many have no pump status.
The scenario's ``regimes`` entries are resolved here once into per-station arrays, so the
model's step stays a handful of vectorised operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.layout import Layout
from simulators.scenario import ControlConfig, RegimeSpec

__all__ = ["Regimes", "inside_window"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def inside_window(hour: float, start: F64, end: F64) -> B:
    """Whether the local ``hour`` lies in each station's [start, end) window (may wrap)."""
    plain = (hour >= start) & (hour < end)
    wrapped = (hour >= start) | (hour < end)
    out: B = np.where(start < end, plain, wrapped)
    return out


@dataclass(slots=True)
class Regimes:
    """Resolved per-station regime (arrays aligned with the layout's stations)."""

    setback_start: F64
    setback_end: F64
    setback_k: F64  # 0: no setback
    off: B  # heating switched off in its window
    off_start: F64
    off_end: F64
    through_below: F64  # off stations: colder nights run through (-inf: never)
    curve_shift: F64
    reports_setpoint: B
    reports_pump: B
    inversion_p: F64

    @classmethod
    def resolve(
        cls,
        specs: tuple[RegimeSpec, ...],
        control: ControlConfig,
        layout: Layout,
        rng: np.random.Generator,
    ) -> Regimes:
        """Apply the scenario's entries in order over the fleet-wide defaults."""
        n = layout.n_stations
        draw = rng.random(n)  # one number per station: the ``share`` slices cut this
        ns = control.night_setback
        reg = cls(
            setback_start=np.full(n, ns.start_hour if ns else 0.0),
            setback_end=np.full(n, ns.end_hour if ns else 0.0),
            setback_k=np.full(n, ns.delta if ns else 0.0),
            off=np.zeros(n, bool),
            off_start=np.zeros(n),
            off_end=np.zeros(n),
            through_below=np.full(n, -np.inf),
            curve_shift=np.zeros(n),
            reports_setpoint=np.zeros(n, bool),
            reports_pump=np.ones(n, bool),
            inversion_p=np.zeros(n),
        )
        for spec in specs:
            sel = _targets(spec, layout, draw)
            if spec.night == "continuous":
                reg.setback_k[sel] = 0.0
                reg.off[sel] = False
            elif spec.night == "setback":
                reg.setback_start[sel], reg.setback_end[sel] = spec.window
                reg.setback_k[sel] = spec.setback_k
                reg.off[sel] = False
            elif spec.night == "off":
                reg.off_start[sel], reg.off_end[sel] = spec.window
                reg.off[sel] = True
                # the setback of a night run through (same window)
                reg.setback_start[sel], reg.setback_end[sel] = spec.window
                reg.setback_k[sel] = spec.setback_k
                below = spec.run_through_below_c
                reg.through_below[sel] = -np.inf if below is None else below
                reg.inversion_p[sel] = spec.restart_inversion
            if "curve_shift_k" in spec.model_fields_set:
                reg.curve_shift[sel] = spec.curve_shift_k
            if spec.reports_setpoint is not None:
                reg.reports_setpoint[sel] = spec.reports_setpoint
            if spec.reports_pump is not None:
                reg.reports_pump[sel] = spec.reports_pump
        return reg

    def setback(self, local_hour: float, through: B) -> F64:
        """K taken off each station's setpoint at this local hour; a station that switches
        off at night has a setback only on the nights it runs through (``through``)."""
        applies = ~self.off | through
        inside = inside_window(local_hour, self.setback_start, self.setback_end)
        out: F64 = np.where(inside & applies, self.setback_k, 0.0)
        return out

    def in_off_window(self, local_hour: float) -> B:
        """Stations inside their planned off window (switched off unless run through)."""
        out: B = self.off & inside_window(local_hour, self.off_start, self.off_end)
        return out

    def on_fraction(self) -> F64:
        """Share of the day each station heats (1 unless switched off at night)."""
        hours = (self.off_end - self.off_start) % 24.0
        out: F64 = np.where(self.off, 1.0 - hours / 24.0, 1.0)
        return out

    def mean_setback(self) -> F64:
        """Daily mean setback (K) of the stations that do not switch off, for the steady
        state the run starts from."""
        hours = (self.setback_end - self.setback_start) % 24.0
        out: F64 = np.where(self.off, 0.0, self.setback_k * hours / 24.0)
        return out


def _targets(spec: RegimeSpec, layout: Layout, draw: F64) -> B:
    if spec.share is not None:
        lo, hi = spec.share
        out: B = (draw >= lo) & (draw < hi)
        return out
    if spec.zone is not None:
        if spec.zone not in layout.zones:
            raise ValueError(f"regimes: unknown zone {spec.zone!r}")
        sel: B = layout.station_zone == layout.zones.index(spec.zone)
        return sel
    sel = np.zeros(layout.n_stations, bool)
    for sid in spec.stations:
        sel[layout.station_index(sid)] = True
    return sel
