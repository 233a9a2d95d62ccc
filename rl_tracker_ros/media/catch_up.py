"""Which frame to track next after first-frame training: the node's catch-up rule.

One place for it, because two drivers follow it: the node's worker (``ros/worker.py``) on
its buffered camera frames, and the real-time evaluation (``evaluation/realtime.py``,
``--catch-up``), which must reproduce what the node does. No ROS import.
"""
from __future__ import annotations

from typing import Optional, Sequence


class CatchUp:
    """Track the frames that arrived during first-frame training ``step`` apart, until the
    newest is at most one stride away; then the driver's newest-frame rule takes over.

    Training takes a while even in the fast profile: by the newest frame a fast target has
    moved further than even the widened search reaches. Short strides keep each jump inside
    the search. When the camera outruns the tracker at that stride, the stride grows to the
    frames that arrived during the last step plus one, so the backlog still shrinks every
    step (a tracker as slow as the paper profile's ends up jumping, as without catch-up).
    """

    def __init__(self, step: int):
        self.stride = int(step)                 # catching up while > 0
        self._newest_seen: Optional[int] = None  # the newest waiting frame at the last step

    @property
    def active(self) -> bool:
        return self.stride > 0

    def next(self, last: int, waiting: Sequence[int]) -> Optional[int]:
        """The index to track next among ``waiting`` (the frames after ``last``, oldest
        first), or None: caught up, for good."""
        if not self.active:
            return None
        if self._newest_seen is not None and len(waiting):
            self.stride = max(self.stride, waiting[-1] - self._newest_seen + 1)
        if len(waiting) <= self.stride:
            self.stride = 0
            return None
        self._newest_seen = waiting[-1]
        within = [j for j in waiting if j <= last + self.stride]
        return within[-1] if within else waiting[0]
