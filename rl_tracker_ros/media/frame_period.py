"""How many camera frame intervals lie between two frames, from their stamps.

Why: the tracker widens its search with the intervals since the last frame it took
(``DATTracker.track(elapsed=...)``). Counting the frames that arrived misses the ones a
lossy link (Wi-Fi, a congested bus) never delivered: after a burst of lost frames the
target has moved as far as after skipped ones, but the count says one interval. The
camera's stamps say how much time passed; its frame interval is the median of the gaps
between consecutive arrivals (a lost frame makes one gap two intervals long, which the
median ignores while most frames arrive).
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Optional

import numpy as np


class FramePeriod:
    """The camera's frame interval, from the stamps of the last ``window`` arrivals.

    Stamps that do not increase (unset zero stamps, a bag played again, a clock jump back)
    add no gap; with fewer than ``min_gaps`` gaps there is no estimate. Thread-safe: the
    node's callbacks add, its worker thread reads."""

    def __init__(self, window: int = 31, min_gaps: int = 3):
        if window < 1 or min_gaps < 1:
            raise ValueError("window and min_gaps must be >= 1")
        self._gaps: Deque[int] = deque(maxlen=int(window))
        self._min_gaps = int(min_gaps)
        self._last: Optional[int] = None
        self._lock = threading.Lock()

    def add(self, stamp_ns: int) -> None:
        """One arrival's stamp (nanoseconds), in arrival order."""
        stamp_ns = int(stamp_ns)
        with self._lock:
            if self._last is not None and stamp_ns > self._last > 0:
                self._gaps.append(stamp_ns - self._last)
            self._last = stamp_ns

    def period_ns(self) -> Optional[float]:
        """The median gap between consecutive arrivals; None without enough of them."""
        with self._lock:
            gaps = list(self._gaps)
        return float(np.median(gaps)) if len(gaps) >= self._min_gaps else None

    def intervals(self, earlier_ns: int, later_ns: int) -> Optional[int]:
        """Frame intervals from a frame stamped ``earlier_ns`` to one stamped ``later_ns``
        (at least 1); None without an estimate or where the stamps cannot say (unset, or
        not increasing)."""
        period = self.period_ns()
        if period is None or earlier_ns <= 0 or later_ns <= earlier_ns:
            return None
        return max(1, int(round((later_ns - earlier_ns) / period)))
