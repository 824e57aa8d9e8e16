"""Gap and duplicate accounting from the optional per-station ``seq`` counter.

Why: the broker is the one place where readings can vanish without anyone noticing (a queue
limit, a lost session). A station numbers its readings; a jump in ``seq`` is a reading that never
reached us, a repeat is a redelivery (harmless, but worth counting). Telemetry and each meter have
their own counter, so the key is (station, meter) with meter ``None`` for telemetry.

Rules, per key: the first ``seq`` seen sets the baseline. ``seq`` above the highest seen adds
``seq - highest - 1`` to gaps. A ``seq`` at or below the highest is a counter reset (the station
rebooted and numbers from 0 again) when its reading is newer than the highest one's (redeliveries
and late arrivals carry their old timestamps), or when it is ``window`` or more below the
highest: the baseline restarts there. Otherwise a ``seq`` already seen is a duplicate, and a
lower one not seen before fills an earlier gap (late delivery).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NOTHING", "SeqResult", "SeqTracker"]

Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class SeqResult:
    gaps: int = 0
    duplicate: bool = False
    late: bool = False
    reset: bool = False


_NOTHING = NOTHING = SeqResult()  # the common answer, one shared object: test with ``is``


class _Track:
    """``seen`` is a bitmask over the window below ``highest``: bit ``d`` set means
    ``highest - d`` arrived. A Python int of ``window`` bits (about 160 bytes at 1,024) instead
    of a set and a deque of the values (about 45 KB per key once full): a city has 420,000 keys
    (every station and every flat's meter)."""

    __slots__ = ("highest", "highest_ts", "seen")

    def __init__(self, seq: int, ts_ns: int | None) -> None:
        self.highest = seq
        self.highest_ts = ts_ns
        self.seen = 1


class SeqTracker:
    """Per-key state is the highest ``seq`` and which of the ``window`` values below it came."""

    def __init__(self, window: int = 1024) -> None:
        self.window = window
        self._full = (1 << window) - 1
        self._tracks: dict[Key, _Track] = {}

    def observe(
        self, station: str, meter: str | None, seq: int | None, ts_ns: int | None = None
    ) -> SeqResult:
        """``ts_ns``: the reading's timestamp, which tells a reboot from a redelivery."""
        if seq is None:
            return _NOTHING
        key = (station, meter)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = _Track(seq, ts_ns)
            return _NOTHING
        if seq == track.highest + 1:  # the next one, nearly always: the general case, shortened
            track.highest, track.highest_ts = seq, ts_ns
            track.seen = ((track.seen << 1) | 1) & self._full
            return _NOTHING
        newer = ts_ns is not None and track.highest_ts is not None and ts_ns > track.highest_ts
        below = track.highest - seq
        if below >= self.window or (below >= 0 and newer):
            self._tracks[key] = _Track(seq, ts_ns)
            return SeqResult(reset=True)
        if below < 0:
            track.highest, track.highest_ts = seq, ts_ns
            # A jump past the window leaves only the new value: shifting by the jump itself
            # would build an int of up to 2^63 bits (MemoryError) for a gateway's bad counter.
            track.seen = (((track.seen << -below) | 1) & self._full if -below < self.window
                          else 1)
            return SeqResult(gaps=-below - 1) if below < -1 else _NOTHING
        bit = 1 << below
        if track.seen & bit:
            return SeqResult(duplicate=True)
        track.seen |= bit
        return SeqResult(late=True)

    def extend(
        self, station: str, meter: str | None, first: int, count: int, last_ts_ns: int | None
    ) -> bool:
        """Take ``first .. first + count - 1`` in one step when they are exactly the next
        values of a known key (the result :meth:`observe` gives each of them one by one);
        False, with nothing changed, otherwise: the caller then observes them one by one."""
        track = self._tracks.get((station, meter))
        if track is None or first != track.highest + 1 or count < 1:
            return False
        track.highest, track.highest_ts = first + count - 1, last_ts_ns
        track.seen = ((track.seen << count) | ((1 << count) - 1)) & self._full
        return True

    def __len__(self) -> int:
        return len(self._tracks)
