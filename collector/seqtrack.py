"""Gap and duplicate accounting from the optional per-station ``seq`` counter.

Why: the broker is the one place where readings can vanish without anyone noticing (a queue
limit, a lost session). A station numbers its readings; a jump in ``seq`` is a reading that never
reached us, a repeat is a redelivery (harmless, but worth counting). Telemetry and each meter have
their own counter, so the key is (station, meter) with meter ``None`` for telemetry.

Rules, per key: the first ``seq`` seen sets the baseline. ``seq`` above the highest seen adds
``seq - highest - 1`` to gaps. A ``seq`` ``window`` or more below the highest is taken as a counter
reset (station rebooted): the baseline restarts there. Otherwise a ``seq`` already seen is a
duplicate, and a lower one not seen before fills an earlier gap (late delivery).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["SeqResult", "SeqTracker"]

Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class SeqResult:
    gaps: int = 0
    duplicate: bool = False
    late: bool = False
    reset: bool = False


_NOTHING = SeqResult()


class _Track:
    __slots__ = ("highest", "order", "recent")

    def __init__(self, seq: int) -> None:
        self.highest = seq
        self.recent: set[int] = {seq}
        self.order: deque[int] = deque([seq])


class SeqTracker:
    """Per-key state is the highest ``seq`` and a window of recently seen values."""

    def __init__(self, window: int = 1024) -> None:
        self.window = window
        self._tracks: dict[Key, _Track] = {}

    def observe(self, station: str, meter: str | None, seq: int | None) -> SeqResult:
        if seq is None:
            return _NOTHING
        key = (station, meter)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = _Track(seq)
            return _NOTHING
        if track.highest - seq >= self.window:
            self._tracks[key] = _Track(seq)
            return SeqResult(reset=True)
        if seq in track.recent:
            return SeqResult(duplicate=True)
        if seq > track.highest:
            gaps = seq - track.highest - 1
            track.highest = seq
            self._remember(track, seq)
            return SeqResult(gaps=gaps) if gaps else _NOTHING
        self._remember(track, seq)
        return SeqResult(late=True)

    def _remember(self, track: _Track, seq: int) -> None:
        track.recent.add(seq)
        track.order.append(seq)
        while len(track.order) > self.window:
            track.recent.discard(track.order.popleft())

    def __len__(self) -> int:
        return len(self._tracks)
