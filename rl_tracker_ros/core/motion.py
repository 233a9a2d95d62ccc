"""The target's recent motion, for searching where it went while frames were lost."""
from __future__ import annotations

from collections import deque
from typing import Deque, Optional, Tuple

import numpy as np


class MotionHistory:
    """Centres of the last ``length`` located frames, on the camera's clock (frame
    intervals). Why: after a gap of k intervals a moving target is about k times its
    per-interval motion away, further than a search sized for one interval reaches; a
    least-squares slope over a few frames is less noisy than one frame difference (which
    sent the search the wrong way when it steered every frame, docs/fast_profile.md)."""

    def __init__(self, length: int = 5):
        self._points: Deque[Tuple[float, np.ndarray]] = deque(maxlen=max(length, 2))

    def add(self, t: float, box: np.ndarray) -> None:
        self._points.append((float(t), np.asarray(box[:2] + box[2:] / 2, dtype=np.float64)))

    def clear(self) -> None:
        self._points.clear()

    def velocity(self) -> Optional[np.ndarray]:
        """Pixels per interval (x, y), or None with fewer than three located frames."""
        if len(self._points) < 3:
            return None
        t = np.array([p[0] for p in self._points])
        c = np.stack([p[1] for p in self._points])
        t = t - t.mean()
        if not np.any(t):
            return None
        return (t[:, None] * (c - c.mean(axis=0))).sum(axis=0) / (t ** 2).sum()
