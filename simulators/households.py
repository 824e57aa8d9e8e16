"""Households in the simulator: what each flat's sensor *should* read, and hotline complaints.

Two pieces of ground truth for issue 16's benchmark (``bench/households.py``):

* :func:`sensor_truth`: each flat's indoor temperature as its sensor would read it without
  noise (the room's temperature plus the sensor's own bias, plus an open window's dip of the
  air). The ledger and the rules can only know what the sensor says, so "hours under the
  standard" and "cold episodes" are scored against this, not against an unbiased room;
  ``room_truth`` leaves the window out (an open window is not a cold flat).
* :class:`ComplaintStream`: residents of flats that are really cold (their room at least
  ``margin_k`` under the standard) call at ``cold_per_h`` an hour, residents of warm flats
  (``margin_k`` over it) at ``warm_per_day`` a day, at most once a day per flat; a share of
  calls give only the station and an address (no sensor to consult). Each complaint carries
  the truth it should be judged by: ``cold``, ``warm`` or ``no_sensor``, and whether the
  flat's station was under-supplying at the time. Flats between the two margins do not call
  (their truth would be a matter of the sensor's accuracy, not of the data).

Seeded by its own stream, so adding complaints does not change the fleet's readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.faults import Active
from simulators.fleet import SimFleet

__all__ = ["CHANNELS", "Complaint", "ComplaintStream", "room_truth", "sensor_truth"]

F64 = npt.NDArray[np.float64]
CHANNELS = ("12345", "phone", "app")
_CHANNEL_P = (0.7, 0.2, 0.1)
_TEXTS = {
    "cold": ("家里太冷了，暖气不热", "radiators barely warm, flat is cold"),
    "warm": ("暖气温度不够，想再热一点", "would like the flat warmer"),
}


def room_truth(fleet: SimFleet) -> F64:
    """Each flat's room temperature as its sensor would read it without noise (bias in)."""
    out: F64 = fleet.flats.indoor + fleet.flats.bias
    return out


def sensor_truth(fleet: SimFleet, active: Active) -> F64:
    """:func:`room_truth` plus the air dip of an open window, as the sensor sees it."""
    truth = room_truth(fleet)
    if active.flat_air is not None:
        truth = truth + active.flat_air
    return truth


@dataclass(frozen=True, slots=True)
class Complaint:
    """One call to the hotline and the truth it should be judged by."""

    ts: float
    station: str
    meter: str | None  # None: the caller gave an address the registry has no sensor for
    channel: str
    text: str
    truth: str  # "cold" | "warm" | "no_sensor"
    room_c: float  # the room's temperature at the call (for the record)
    station_short: bool  # the station was under-supplying (a station fault was active)


class ComplaintStream:
    """Complaints drawn step by step from the fleet's true temperatures."""

    def __init__(
        self, fleet: SimFleet, *, seed: int = 0, standard_c: float = 18.0, margin_k: float = 1.0,
        cold_per_h: float = 0.05, warm_per_day: float = 0.002, address_only: float = 0.1,
    ) -> None:
        self.fleet = fleet
        self.rng = np.random.default_rng([fleet.seed, 16, seed])
        self.standard_c = standard_c
        self.margin_k = margin_k
        self.cold_per_h = cold_per_h
        self.warm_per_day = warm_per_day
        self.address_only = address_only
        self._last: F64 = np.full(fleet.layout.n_flats, -np.inf)  # last call per flat

    def step(self, t: float, dt: float, active: Active) -> list[Complaint]:
        """The calls made in the ``dt`` seconds up to ``t``."""
        room = self.fleet.flats.indoor  # what the resident feels (no sensor bias)
        cold = room < self.standard_c - self.margin_k
        warm = room >= self.standard_c + self.margin_k
        p = np.where(cold, self.cold_per_h * dt / 3600.0,
                     np.where(warm, self.warm_per_day * dt / 86400.0, 0.0))
        p[t - self._last < 86400.0] = 0.0
        calls = np.flatnonzero(self.rng.random(p.size) < p)
        if calls.size == 0:
            return []
        self._last[calls] = t
        lay = self.fleet.layout
        short = active.effects.supply_deficit > 0
        short |= active.effects.pump_trip | active.effects.power_lost
        out = []
        for j in calls.tolist():
            s = int(lay.flat_station[j])
            kind = "cold" if cold[j] else "warm"
            by_address = bool(self.rng.random() < self.address_only)
            channel = str(self.rng.choice(CHANNELS, p=_CHANNEL_P))
            zh, en = _TEXTS[kind]
            out.append(Complaint(
                ts=t - float(self.rng.uniform(0.0, dt)),
                station=lay.station_ids[s],
                meter=None if by_address else lay.flat_ids[j],
                channel=channel,
                text=f"{zh} / {en}",
                truth="no_sensor" if by_address else kind,
                room_c=float(room[j]),
                station_short=bool(short[s]),
            ))
        out.sort(key=lambda c: c.ts)
        return out
