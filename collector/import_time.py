"""Local time in a CSV export -> epoch milliseconds, daylight saving time included.

SCADA exports write the station's wall-clock time without an offset. Two hours a year that is
not one instant:

* **autumn** (clocks go back): the hour before the change happens twice, so ``02:30`` is two
  instants an hour apart. The row order decides. A file is a sequence, newest first or oldest
  first (detected per station from the first two unambiguous rows, or set with
  ``time.order``), and of the two candidates we take the one that keeps the sequence going
  the same way, nearest to the previous row of that station. Oldest first, ``02:00 02:30
  02:00 02:30 03:00`` become summer, summer, winter, winter time: no instant twice, no step
  backwards. An hourly file with only one ``02:00`` row gets the candidate nearest its
  neighbour. A file that starts inside the hour gets the first occurrence (oldest first or
  order unknown) or the second (newest first). A time that neither candidate keeps in order is
  a duplicate row; it gets the nearest candidate and overwrites that point.
* **spring** (clocks go forward): the hour of the change does not exist. A row stamped in it
  is rejected as ``bad_timestamp`` (``time.nonexistent: reject``, the default: a logger that
  writes such times is not keeping the zone's clock, and we do not guess which clock it
  keeps), or moved forward by the gap (``shift_forward``: ``02:30`` is stored as ``03:30``
  summer time, the instant a clock that forgot to jump meant).

The hot path is one dict lookup per row: the UTC offset is cached per local hour, and only
hours that contain a change go through :mod:`zoneinfo` row by row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from collector.import_mapping import TimeColumn

__all__ = ["TimeProblem", "TimeReader"]

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# strptime formats that datetime.fromisoformat reads the same way (and twenty times faster),
# with the length of a text that matches them and the character between date and time.
_ISO_LIKE = {
    "%Y-%m-%d %H:%M:%S": (19, " "),
    "%Y-%m-%dT%H:%M:%S": (19, "T"),
    "%Y-%m-%d %H:%M": (16, " "),
    "%Y-%m-%dT%H:%M": (16, "T"),
}
_VARIES = -1  # cached "offset" of an hour that contains a change: resolve row by row


class TimeProblem(Exception):
    """A time cell that is no instant: unparseable, or in the spring-forward gap."""


class TimeReader:
    """Parses one mapping's time column; keeps the row order state of each station, which
    :meth:`new_file` clears (each file is its own sequence)."""

    def __init__(self, spec: TimeColumn) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.timezone)
        self._fmt = spec.format
        self._iso_like = _ISO_LIKE.get(spec.format)
        # UTC offset in seconds of a whole local day (key: date ordinal) and, for the two days
        # a year with a change, of each of their hours (key: ordinal * 24 + hour).
        self._days: dict[int, int] = {}
        self._hours: dict[int, int] = {}
        # Row order per station: the previous row's UTC ms, and the direction (+1 oldest
        # first, -1 newest first) once two rows told it, or as ``time.order`` sets it.
        self._preset = {"auto": 0, "oldest_first": 1, "newest_first": -1}[spec.order]
        self._last: dict[str, int] = {}
        self._direction: dict[str, int] = {}
        self.ambiguous = 0  # rows placed by the autumn rule
        self.shifted = 0  # rows moved out of the spring gap

    def new_file(self) -> None:
        self._last.clear()
        self._direction.clear()

    def epoch_ms(self, text: str, station: str) -> int:
        """The cell as epoch milliseconds; raises :class:`TimeProblem`."""
        fmt = self._fmt
        if fmt == "epoch_s" or fmt == "epoch_ms":
            try:
                value = float(text)
            except ValueError:
                raise TimeProblem(f"time {text!r} is not a number ({fmt})") from None
            if value - value != 0.0:
                raise TimeProblem(f"time {text!r} is not finite")
            return round(value * 1000) if fmt == "epoch_s" else round(value)
        dt = self._parse(text)
        if dt.tzinfo is not None:  # the text carried its offset: no zone rules apply
            return (dt - _EPOCH) // _MS
        day = dt.toordinal()
        offset = self._days.get(day)
        if offset is None:
            offset = self._offset(day, None)
        if offset == _VARIES:
            offset = self._hours.get(day * 24 + dt.hour)
            if offset is None:
                offset = self._offset(day, dt.hour)
        local_s = (day - _EPOCH_ORDINAL) * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second
        if offset == _VARIES:
            return self._changing(dt, local_s, station)
        utc_ms = (local_s - offset) * 1000 + dt.microsecond // 1000
        if station not in self._direction:
            self._learn_direction(station, utc_ms)
        self._last[station] = utc_ms
        return utc_ms

    def _parse(self, text: str) -> datetime:
        iso = self._iso_like
        try:
            if iso is not None and len(text) == iso[0] and text[10] == iso[1]:
                dt = datetime.fromisoformat(text)
                if dt.tzinfo is None:
                    return dt
            elif self._fmt == "iso":
                return datetime.fromisoformat(text.strip())
            return datetime.strptime(text.strip(), self._fmt)
        except ValueError:
            pass
        raise TimeProblem(f"time {text[:40]!r} does not match format {self._fmt!r}")

    def _offset(self, day: int, hour: int | None) -> int:
        """The UTC offset of a whole local day (``hour`` None) or hour, or ``_VARIES`` if a
        change falls in it."""
        start = datetime.fromordinal(day) + timedelta(hours=hour or 0)
        end = start + (timedelta(days=1) if hour is None else timedelta(hours=1))
        offsets = set()
        for dt in (start, end - timedelta(seconds=1)):
            for fold in (0, 1):
                off = dt.replace(tzinfo=self.zone, fold=fold).utcoffset()
                assert off is not None
                offsets.add(int(off.total_seconds()))
        offset = offsets.pop() if len(offsets) == 1 else _VARIES
        if hour is None:
            self._days[day] = offset
        else:
            self._hours[day * 24 + hour] = offset
        return offset

    def _changing(self, dt: datetime, local_s: int, station: str) -> int:
        ms = dt.microsecond // 1000
        first = dt.replace(tzinfo=self.zone, fold=0).utcoffset()
        second = dt.replace(tzinfo=self.zone, fold=1).utcoffset()
        assert first is not None and second is not None
        early = (local_s - int(first.total_seconds())) * 1000 + ms
        late = (local_s - int(second.total_seconds())) * 1000 + ms
        if early == late:  # this minute of the hour is not affected
            self._follow(station, early)
            return early
        if early > late:  # fold 0 maps later than fold 1: the time does not exist
            if self.spec.nonexistent == "reject":
                raise TimeProblem(f"local time {dt.isoformat(sep=' ')} does not exist in "
                                  f"{self.spec.timezone} (clocks went forward)")
            self.shifted += 1
            self._follow(station, early)
            return early  # fold 0 uses the offset before the change: the shifted instant
        self.ambiguous += 1
        chosen = self._place(station, early, late)
        self._last[station] = chosen  # it places the next one, but tells no direction
        return chosen

    def _place(self, station: str, early: int, late: int) -> int:
        prev = self._last.get(station)
        direction = self._direction.get(station, self._preset)
        if prev is None:  # the file starts here: leave room for the other occurrence
            return late if direction < 0 else early
        candidates = [early, late]
        if direction > 0:
            ordered = [c for c in candidates if c > prev]
        elif direction < 0:
            ordered = [c for c in candidates if c < prev]
        else:
            ordered = [c for c in candidates if c != prev]
        return min(ordered or candidates, key=lambda c: abs(c - prev))

    def _learn_direction(self, station: str, utc_ms: int) -> None:
        if self._preset:
            self._direction[station] = self._preset
            return
        prev = self._last.get(station)
        if prev is not None and prev != utc_ms:
            self._direction[station] = 1 if utc_ms > prev else -1

    def _follow(self, station: str, utc_ms: int) -> None:
        if station not in self._direction:
            self._learn_direction(station, utc_ms)
        self._last[station] = utc_ms
