"""Recent camera frames, so an init box initialises on the frame it was drawn on.

A user (or a detector) draws a box on a frame that is already some frames old when the
box arrives; initialising on the newest frame instead would train the classifier on the
wrong pixels. The buffer keeps the last few converted frames, looked up by stamp.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, List, Optional

import numpy as np


@dataclass
class Frame:
    """One converted camera image and where it came from."""
    image: np.ndarray          # (H, W, 3) uint8 RGB
    header: Any                # the source message's std_msgs/Header, copied to outputs
    stamp_ns: int              # header.stamp in nanoseconds
    arrival: float             # time.monotonic() when the node received it
    index: int = field(default=0)  # arrival order, 0-based


class FrameBuffer:
    """A thread-safe ring of the ``capacity`` newest frames, all of one image size."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("frame buffer capacity must be >= 1")
        self._frames: Deque[Frame] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._count = 0

    def push(self, frame: Frame) -> Frame:
        with self._lock:
            frame.index = self._count
            self._count += 1
            if self._frames and self._frames[-1].image.shape != frame.image.shape:
                # A new image size: older frames cannot be tracked on with this one (the
                # worker stops), and keeping them would let alternating sizes hold up to
                # ``capacity`` frames of the largest size ever sent.
                self._frames.clear()
            self._frames.append(frame)
        return frame

    def newest(self) -> Optional[Frame]:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def after(self, index: int) -> List[Frame]:
        """The buffered frames newer than arrival ``index``, oldest first."""
        with self._lock:
            return [f for f in self._frames if f.index > index]

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> Frame:
        """The buffered frame whose stamp is nearest ``stamp_ns``.

        Raises ``LookupError`` with the reason (empty buffer, or nearest frame further than
        ``tolerance_ns`` away, e.g. a box for a frame that already left the buffer).
        """
        with self._lock:
            frames = list(self._frames)
        if not frames:
            raise LookupError("no image received yet")
        best = min(frames, key=lambda f: abs(f.stamp_ns - stamp_ns))
        gap = abs(best.stamp_ns - stamp_ns)
        if gap > tolerance_ns:
            oldest, newest = frames[0].stamp_ns, frames[-1].stamp_ns
            raise LookupError(
                f"no buffered frame within {tolerance_ns / 1e9:.3f} s of stamp {stamp_ns / 1e9:.3f} s "
                f"(buffer holds {oldest / 1e9:.3f} .. {newest / 1e9:.3f} s, nearest {gap / 1e9:.3f} s away)")
        return best

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
