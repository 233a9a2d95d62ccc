"""The one tracker interface every driver is written against.

The node's worker thread, the offline runner and the evaluation harness all hand frames
to an object with these two methods and read back a :class:`TrackResult`; ours
(:class:`~rl_tracker_ros.core.tracker.DATTracker`) and the OpenCV baselines of the
evaluation are such objects (pytracking's ``initialize`` / ``track`` shape).

A tracker that learns from each frame may also offer ``track(..., learn=False)`` and
``learn()``: the box first, the learning after it. The node and the evaluation harness
use that when it is there (the box is published, or counted, when it is ready); the
OpenCV trackers do not have it.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from .tracker import TrackResult


@runtime_checkable
class Tracker(Protocol):
    """A single-object tracker: frames are H x W x 3 uint8 RGB, boxes x, y, w, h pixels."""

    def initialize(self, frame: np.ndarray, box: Sequence[float]) -> TrackResult:
        """Start tracking ``box`` in ``frame`` (a new target replaces the old one)."""
        ...

    def track(self, frame: np.ndarray, *, attention: Optional[bool] = None, elapsed: float = 1.0) -> TrackResult:
        """The target in ``frame``; ``elapsed`` camera frame intervals passed since the
        previous call (more than 1 when frames were skipped); ``attention``: also the
        result box's attention map, from trackers that have one (others leave it None)."""
        ...
