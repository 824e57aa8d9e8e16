"""Households: each flat's indoor temperature judged on its own (``flat_cold``, ``flat_sensor``).

``zone_cold`` counts a share of a zone's flats; one household at 15 °C for two days never
reaches that share. Here the flat is the unit, which raises three problems this module solves:

* **Noise is not cold.** A flat is judged on a *robust level*, the median of its last
  ``median_of`` plausible readings (3: one low reading changes nothing), and must stay under
  the standard for a *hold* (``hold_s``, 2 h) before it fires: a window opened for ten minutes
  dips the air for half an hour and never lasts the hold. The hold counts from the oldest low
  reading behind the level's first low value, so detection comes ``hold_s`` after the readings
  went low, not a median's lag later. Hysteresis: the level must come back to the standard
  plus ``recover_k`` to clear; in between a cold run (and a firing alert) carries on.
* **A dead sensor is not a cold flat.** A logger sentinel, a value outside 0-40 °C, a value
  frozen for ``stuck_after_s``, or a level ``neighbour_gap_k`` under *every* other flat of the
  same station while that station delivers heat (a probe fallen behind a radiator cover or out
  of a window; a flat without heat in a heated building stays within a few kelvin of its
  neighbours through the party walls) raise ``flat_sensor`` and keep ``flat_cold`` quiet. A
  flat found implausible stays suspect until its level is back within the gap, so the
  station's night switch-off (when there is no delivering to compare against) does not turn
  the dead probe into a page.
* **400,000 flats.** :class:`FlatBook` keeps one small slotted object per flat and does O(1)
  work per reading; a flat is handed to the rules only when its reading makes it worth judging
  (its level is under the standard plus ``recover_k``, it just came back above, or its sensor
  state changed) or its hold timer falls due (a heap), so a warm flat costs one median of three
  and no rule evaluation at all.

This module is the rules' data (like :mod:`alerts.window` for the station rules); their pure
verdicts are in the rule module :mod:`alerts.rules.flat`.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from alerts.model import Verdict

if TYPE_CHECKING:  # the rule module (alerts.rules.flat) imports this one
    from alerts.rules.flat import FlatCold, FlatSensor

__all__ = [
    "FLAT_INHIBITORS",
    "FlatBook",
    "FlatInfo",
    "FlatState",
    "StationView",
    "list_cold_flats",
]

SensorFault = Literal["", "sentinel", "stuck", "below_neighbours"]


@dataclass(frozen=True, slots=True)
class FlatInfo:
    """What the registry says about a flat (for the message: crews want top floor / gable)."""

    floor: int | None = None
    top_floor: bool = False
    gable_end: bool = False


@dataclass(frozen=True, slots=True)
class StationView:
    """What the flat's station is doing, for the cause in a ``flat_cold`` message.

    ``delivering``: the station's own data says it delivers heat (None: no evidence);
    ``deficit_k``: its reference minus its supply (None without either); ``firing``: its
    firing alerts that explain cold flats (the inhibitors of ``flat_cold``)."""

    delivering: bool | None = None
    deficit_k: float | None = None
    tolerance_k: float = 5.0
    firing: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """``station_alert`` (its own alert is the cause), ``normal`` (delivering to its
        reference: the cause is in the building or the flat), ``idle``, or ``unknown``."""
        if self.firing:
            return "station_alert"
        if self.delivering is False:
            return "idle"
        if self.delivering and (self.deficit_k is None or self.deficit_k <= self.tolerance_k):
            return "normal"
        if self.deficit_k is not None and self.deficit_k > self.tolerance_k:
            return "under_supply"
        return "unknown"


class FlatState:
    """One flat's recent indoor readings and what follows from them (updated per reading)."""

    __slots__ = (
        "changed_at", "cold_since", "last_raw", "level", "low", "mark", "meter",
        "recover_until", "same_count", "sensor", "station", "suspect", "ts", "win",
    )

    def __init__(self, station: str, meter: str) -> None:
        self.station = station
        self.meter = meter
        # the last median_of plausible readings, oldest first, as value, time, value, time...
        # (one array: 112 bytes for three, where two lists of boxed floats take 300)
        self.win = array("d")
        self.ts = -math.inf  # newest reading (plausible or not)
        self.level = math.nan  # median of vals (NaN: too few readings)
        self.cold_since: float | None = None  # start of the current cold run
        self.low = math.inf  # lowest level in the current cold run
        self.last_raw = math.nan
        self.changed_at = -math.inf  # when the raw value last changed (stuck sensor)
        self.same_count = 0
        self.sensor: SensorFault = ""  # why the sensor cannot be right, "" if it can
        self.suspect = False  # found far under every neighbour; stays until back within
        # warming back after its station's fault: its lowest level in the current hold (NaN:
        # not recovering) and until when it may take
        self.mark = math.nan
        self.recover_until = math.inf


def _median(win: array[float]) -> float:
    """Median of the values of a value, time, value, time... window."""
    n = len(win) // 2
    if n == 3:  # the default, without sorting a list
        a, b, c = win[0], win[2], win[4]
        if a > b:
            a, b = b, a
        return b if b <= c else (a if a > c else c)
    s = sorted(win[0::2])
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


class FlatBook:
    """Every flat's :class:`FlatState`, which flats need judging, and the hold timers.

    ``params(station, ts)`` gives the station's effective parameters and the standard in force
    at ``ts`` (night standard during its setback). Not thread-safe, like the engine.
    """

    def __init__(self, params: Callable[[str, float], tuple[FlatCold, FlatSensor, float]]) -> None:
        self._params = params
        self.stations: dict[str, dict[str, FlatState]] = {}
        self.dirty: set[FlatState] = set()
        self._timers: list[tuple[float, int, FlatState, float]] = []  # (due, n, flat, since)
        self._n = 0
        self._recovering: dict[str, float] = {}  # station -> until when its flats may warm back

    def __len__(self) -> int:
        return sum(len(per) for per in self.stations.values())

    def flat(self, station: str, meter: str) -> FlatState | None:
        per = self.stations.get(station)
        return None if per is None else per.get(meter)

    def __iter__(self) -> Iterator[FlatState]:
        for per in self.stations.values():
            yield from per.values()

    def observe(self, station: str, meter: str, ts: float, value: float) -> None:
        """Fold one indoor reading in: O(1); marks the flat dirty when it is worth judging."""
        per = self.stations.get(station)
        if per is None:
            per = self.stations[station] = {}
        flat = per.get(meter)
        if flat is None:
            flat = per[meter] = FlatState(station, meter)
        if ts <= flat.ts:
            return  # a duplicate or an older reading: the level is about the present
        flat.ts = ts
        cold, sensor, standard = self._params(station, ts)
        before = flat.sensor
        # stuck: the same raw value over and over (silence is not stuck: counted per reading)
        if value == flat.last_raw:
            flat.same_count += 1
        else:
            flat.last_raw, flat.changed_at, flat.same_count = value, ts, 1
        if not (sensor.valid_min <= value <= sensor.valid_max) or round(value, 3) in _sentinels(
                sensor.sentinels):
            flat.sensor = "sentinel"
            self.dirty.add(flat)  # every bad reading: flat_sensor's hold counts readings
            return  # no data for the level
        if (flat.same_count >= sensor.stuck_min_samples
                and ts - flat.changed_at >= sensor.stuck_after_s):
            flat.sensor = "stuck"
        elif flat.suspect:
            flat.sensor = "below_neighbours"
        else:
            flat.sensor = ""
        win = flat.win
        win.append(value)
        win.append(ts)
        k = 2 * cold.median_of
        if len(win) > k:
            del win[:len(win) - k]
        was = flat.level
        if len(win) < k:
            flat.level = math.nan
            if flat.sensor or flat.sensor != before:
                self.dirty.add(flat)
            return
        level = flat.level = _median(win)
        if level < standard:
            if flat.cold_since is None:
                # the oldest low reading behind this level: the hold counts from when the
                # readings went low, not from when the median noticed
                flat.cold_since = next(win[i + 1] for i in range(0, len(win), 2)
                                       if win[i] < standard)
                flat.low = level
                until = self._recovering.get(station, -math.inf)
                if ts < until:  # its station just recovered from a fault: the flat lags
                    flat.mark, flat.recover_until = level, until
                self._n += 1
                heapq.heappush(self._timers, (flat.cold_since + cold.hold_s, self._n, flat,
                                              flat.cold_since))
            elif level < flat.low:
                flat.low = level
            if level < flat.mark:
                flat.mark = level
            self.dirty.add(flat)
        elif level >= standard + cold.recover_k:
            if flat.cold_since is not None or flat.suspect or not was >= standard + cold.recover_k:
                self.dirty.add(flat)  # back to normal: a firing alert must hear it
            flat.cold_since = None
            flat.low = math.inf
            flat.mark = math.nan
            if flat.suspect:
                flat.suspect = False
                if flat.sensor == "below_neighbours":
                    flat.sensor = ""
        else:
            self.dirty.add(flat)  # inside the band: an open alert carries on
        if flat.sensor or flat.sensor != before:
            self.dirty.add(flat)

    def due(self, now: float, delivering: Callable[[str], bool | None] | None = None
            ) -> set[FlatState]:
        """Mark dirty the flats whose hold ended by ``now`` without a reading since. A flat
        warming back after its station's fault, now ``recover_rise_k`` above its lowest
        level in the hold (it has turned and warms), or whose station does not deliver heat
        now (``delivering(station)`` False: a planned night switch-off, nothing to warm it),
        starts another hold instead (until ``recover_max_s``)."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, flat, since = heapq.heappop(timers)
            if flat.cold_since != since:
                continue  # that cold run ended
            mark = flat.mark
            if mark == mark:  # recovering
                cold, _, _ = self._params(flat.station, now)
                idle = delivering is not None and delivering(flat.station) is False
                if now < flat.recover_until and (idle or flat.level >= mark + cold.recover_rise_k):
                    self._hold(flat, now, flat.level)
                    continue
                flat.mark = math.nan  # stalled (or out of time): its own problem now
            self.dirty.add(flat)
        return self.dirty

    def _hold(self, flat: FlatState, since: float, mark: float) -> None:
        """Start a hold for a recovering flat at ``since``, remembering its level."""
        cold, _, _ = self._params(flat.station, since)
        flat.cold_since, flat.mark = since, mark
        self._n += 1
        heapq.heappush(self._timers, (since + cold.hold_s, self._n, flat, since))

    def next_timer(self) -> float:
        """When the earliest hold timer falls due (inf: none) - for a replay's next_due."""
        timers = self._timers
        while timers and timers[0][2].cold_since != timers[0][3]:
            heapq.heappop(timers)  # its cold run ended: nothing to wake for
        return timers[0][0] if timers else math.inf

    def check_neighbours(
        self, flat: FlatState, sensor: FlatSensor, delivering: bool | None
    ) -> None:
        """While the station delivers heat, a level ``neighbour_gap_k`` under every other flat
        of the station (with at least ``min_neighbours`` of them) marks the sensor suspect.
        O(flats of the station), run only for a flat that is under the standard."""
        if flat.suspect or not delivering or math.isnan(flat.level):
            return
        others = [f.level for f in self.stations[flat.station].values()
                  if f is not flat and not f.sensor and not math.isnan(f.level)]
        gap = sensor.neighbour_gap_k
        if len(others) >= sensor.min_neighbours and flat.level < min(others) - gap:
            flat.suspect = True
            if not flat.sensor:
                flat.sensor = "below_neighbours"

    def station_recovered(self, station: str, now: float, cold: FlatCold) -> list[FlatState]:
        """The station's own fault (which explained its cold flats) is over: each flat still
        in a cold run is warming back from now on; it starts a hold afresh and is judged at
        its end (:meth:`due`). So is a flat whose cold run starts within ``recover_max_s``
        (a flat with much thermal mass still cools for a while). Returns the flats."""
        out = []
        self._recovering[station] = now + cold.recover_max_s
        if len(self._recovering) > 1024:
            self._recovering = {s: t for s, t in self._recovering.items() if t > now}
        for flat in self.stations.get(station, {}).values():
            if flat.cold_since is not None:
                flat.recover_until = now + cold.recover_max_s
                self._hold(flat, now, flat.level)
                out.append(flat)
        return out

    def cold_flats(self, station: str, standard: float) -> list[FlatState]:
        """The station's flats whose level is under ``standard``, coldest first (plausible
        sensors only): what a station alert lists."""
        per = self.stations.get(station, {})
        out = [f for f in per.values() if not f.sensor and f.level < standard]
        out.sort(key=lambda f: f.level)
        return out


_sentinel_cache: dict[tuple[float, ...], frozenset[float]] = {}


def _sentinels(values: tuple[float, ...]) -> frozenset[float]:
    found = _sentinel_cache.get(values)
    if found is None:
        found = _sentinel_cache[values] = frozenset(round(v, 3) for v in values)
    return found


# The station alerts that explain a station's cold flats: they inhibit ``flat_cold`` (the
# rules file's default ``inhibit``) and list the station's cold flats (``list_cold_flats``).
FLAT_INHIBITORS = ("station_offline", "power_loss", "pump_stopped", "heating_not_resumed",
                   "supply_below_curve")
WORST_LISTED = 5


def list_cold_flats(verdict: Verdict, book: FlatBook, station: str, standard: float) -> Verdict:
    """A station alert's FIRE verdict with the station's flats under ``standard`` added
    (``cold_flats``: how many, ``worst_flats``: the coldest five with their level), so the one
    page a crew gets for a station fault also says which flats it leaves cold."""
    cold = book.cold_flats(station, standard)
    if not cold:
        return verdict
    worst = ", ".join(f"{f.meter} {f.level:.1f} °C" for f in cold[:WORST_LISTED])
    return Verdict(verdict.signal, verdict.severity, verdict.value, verdict.summary,
                   (*verdict.annotations, ("cold_flats", str(len(cold))),
                    ("worst_flats", worst)))
