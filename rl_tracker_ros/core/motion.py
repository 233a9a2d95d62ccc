"""Where the target moved since the last frame, from sparse optical flow (a search prior).

The tracker searches around where the target was. A target that moves more than the
search spread between two frames it sees (a fast mover, or frames that passed while the
tracker was busy: at 30 Hz the first tracked frame comes several intervals after the
initial one) falls at the edge of the candidates or outside them. Pyramidal Lucas-Kanade
on a lattice of points inside the last box, checked forwards and backwards (Kalal et al.'s
Median Flow), measures that displacement in a millisecond or two; the median of the points
that track back to where they started is the target's shift. It only moves the centre of
the search: the classifier still decides which candidate is the target, so a flow that
followed the background or an occluder costs density, not the target
(``TrackerConfig.flow_share`` keeps part of the candidates around the last box too).
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

#: Target size (mean side, pixels) the window is resampled to before the flow: enough
#: texture for 15 px windows, few enough pixels for a millisecond.
FLOW_TARGET_SIDE = 48.0
#: Lattice of points inside the box (its central 80%).
FLOW_GRID = 10
#: A point counts if it tracks back to within this many resampled pixels of its start.
FLOW_FB_MAX = 2.0
#: A shift is trusted only when at least this share of the lattice passed the check.
FLOW_MIN_SHARE = 0.15
_MIN_POINTS = FLOW_MIN_SHARE * FLOW_GRID ** 2
_LK = dict(winSize=(15, 15), maxLevel=3,
           criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def _gray_window(frame: np.ndarray, window: np.ndarray, scale: float) -> np.ndarray:
    """``frame``'s pixels inside ``window`` (x0, y0, x1, y1, integers), grey, resized by ``scale``."""
    x0, y0, x1, y1 = window
    patch = np.ascontiguousarray(frame[y0:y1, x0:x1])
    gray = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    size = (max(int(round((x1 - x0) * scale)), 1), max(int(round((y1 - y0) * scale)), 1))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def flow_shift(previous: np.ndarray, current: np.ndarray, box: np.ndarray,
               reach: float) -> Optional[Tuple[float, float]]:
    """The target's displacement (dx, dy) in pixels from ``previous`` to ``current`` (RGB
    frames of one size), for ``box`` (x, y, w, h) in ``previous``; None when the flow is
    not to be trusted (too few points track forwards and back, or the box is off the frame).

    ``reach``: how far the target may have moved, x the box's mean side; the window the
    flow reads is the box grown by it on every side."""
    h, w = current.shape[:2]
    if previous.shape[:2] != (h, w):
        return None
    x, y, bw, bh = (float(v) for v in box)
    side = max((bw + bh) / 2.0, 1.0)
    margin = reach * side
    window = np.array([np.floor(x - margin), np.floor(y - margin), np.ceil(x + bw + margin),
                       np.ceil(y + bh + margin)])
    window = np.clip(window, 0, [w, h, w, h]).astype(int)
    if window[2] - window[0] < 8 or window[3] - window[1] < 8:
        return None
    scale = FLOW_TARGET_SIDE / side
    before = _gray_window(previous, window, scale)
    after = _gray_window(current, window, scale)
    # The lattice over the box's central 80%, in the resampled window's pixels.
    gx = (x + bw * np.linspace(0.1, 0.9, FLOW_GRID) - window[0]) * scale
    gy = (y + bh * np.linspace(0.1, 0.9, FLOW_GRID) - window[1]) * scale
    points = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 1, 2).astype(np.float32)
    inside = ((points[:, 0, 0] >= 0) & (points[:, 0, 0] < before.shape[1] - 1)
              & (points[:, 0, 1] >= 0) & (points[:, 0, 1] < before.shape[0] - 1))
    points = points[inside]
    if len(points) < _MIN_POINTS:
        return None
    ahead, ok, _ = cv2.calcOpticalFlowPyrLK(before, after, points, None, **_LK)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(after, before, ahead, None, **_LK)
    error = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
    good = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (error < FLOW_FB_MAX)
    if good.sum() < _MIN_POINTS:
        return None
    shift = np.median((ahead - points).reshape(-1, 2)[good], axis=0) / scale
    return float(shift[0]), float(shift[1])
