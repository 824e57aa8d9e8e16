"""Failed API key attempts per client address: a sliding window, bounded in memory.

Keys are 256-bit random tokens, so guessing one is hopeless anyway; the limit is there so that
a scanner cannot turn the API into a free hash oracle at full request rate, and so that a
misconfigured client hammering with a revoked key shows up as 429s (and in the
``heatwatch_api_auth_failures_total{status="429"}`` counter) instead of silent load.
While an address is over the limit, every request from it that carries a key is refused
without looking at the key: answering "right" or "wrong" during the block would let the
guessing continue.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["FailedKeyLimiter"]


class FailedKeyLimiter:
    """``retry_after(addr)`` says how long ``addr`` must wait (None: not blocked);
    ``failed(addr)`` records one wrong key. Thread-safe (FastAPI runs sync deps in threads)."""

    def __init__(
        self, max_failures: int, window_s: float, *, max_clients: int = 10_000,
        clock: Callable[[], float],
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, addr: str, now: float) -> deque[float] | None:
        times = self._failures.get(addr)
        if times is None:
            return None
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[addr]
            return None
        return times

    def retry_after(self, addr: str) -> float | None:
        with self._lock:
            now = self._clock()
            times = self._recent(addr, now)
            if times is None or len(times) < self.max_failures:
                return None
            return self.window_s - (now - times[0])

    def failed(self, addr: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(addr, now)
            if times is None:
                times = self._failures[addr] = deque(maxlen=self.max_failures)
                while len(self._failures) > self.max_clients:
                    self._failures.popitem(last=False)  # the address seen longest ago
            else:
                self._failures.move_to_end(addr)
            times.append(now)
