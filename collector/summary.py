"""A low-rate log summary: counts accumulate, one line per interval at most.

Why: a station that sends garbage every second must not flood the journal with one line per
message, yet operators still need to see, in the log, that rejections, gaps or unregistered
stations happen. The Prometheus counters carry the totals; this line names the stations (the
ten with the most of each kind in the interval): the ``seq`` counters have no ``station`` label,
which would be one series per station and kind at city scale.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

__all__ = ["SummaryLog"]

_MAX_NAMES = 10


class SummaryLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last = clock()
        self.rejected: Counter[str] = Counter()
        self.gaps: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.late: Counter[str] = Counter()
        self.unregistered: Counter[str] = Counter()
        self.refused = 0
        self.dropped_fields = 0
        self.lines_emitted = 0

    def _empty(self) -> bool:
        return not (
            self.rejected or self.gaps or self.duplicates or self.late or self.unregistered
            or self.refused or self.dropped_fields
        )

    @staticmethod
    def _top(counts: Counter[str]) -> str:
        items = ", ".join(f"{k}={v}" for k, v in counts.most_common(_MAX_NAMES))
        more = len(counts) - _MAX_NAMES
        return items + (f" (+{more} more)" if more > 0 else "")

    def maybe_log(self, *, force: bool = False) -> bool:
        """Log one summary line if the interval has passed (or ``force``) and anything happened."""
        now = self.clock()
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        if self._empty():
            return False
        parts = []
        if self.rejected:
            parts.append(f"rejected {sum(self.rejected.values())} [{self._top(self.rejected)}]")
        if self.refused:
            parts.append(f"refused by InfluxDB {self.refused}")
        if self.dropped_fields:
            parts.append(f"dropped fields {self.dropped_fields}")
        if self.gaps:
            parts.append(f"seq gaps {sum(self.gaps.values())} [{self._top(self.gaps)}]")
        if self.duplicates:
            parts.append(
                f"seq duplicates {sum(self.duplicates.values())} [{self._top(self.duplicates)}]"
            )
        if self.late:
            parts.append(f"seq late {sum(self.late.values())} [{self._top(self.late)}]")
        if self.unregistered:
            parts.append(
                f"unregistered stations (stored in zone 'unassigned') "
                f"[{self._top(self.unregistered)}]"
            )
        level = logging.WARNING if (self.gaps or self.refused) else logging.INFO
        self.logger.log(level, "last %.0f s: %s", self.interval, "; ".join(parts))
        self.lines_emitted += 1
        self.rejected.clear()
        self.gaps.clear()
        self.duplicates.clear()
        self.late.clear()
        self.unregistered.clear()
        self.refused = 0
        self.dropped_fields = 0
        return True
