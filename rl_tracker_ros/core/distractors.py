"""Hard negatives from the search region's own distractors.

The online update's negatives are drawn at random around the target, and in region mode
only those whose context lies in the frame's search region are kept: mostly boxes that
overlap the target in part. A similar object that walks into the region (another player,
a second face) is never among them, so the first time the classifier sees it is when it
scores it, and a score above the target's takes the box. Here a confident frame scores
every target-sized box one map cell apart over the region it already has the map of (fc4
applied at every position, as a convolution would) and keeps the high-scoring ones that
are not the target as negatives of that frame: the distractors the classifier is about to
confuse are the ones it learns to reject (MDNet mines hard negatives within a batch; this
mines them in the frame).
"""
from __future__ import annotations

import cv2
import numpy as np

from .boxes import iou
from .redetection import tile_candidates


def region_lattice(region: np.ndarray, target: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(N, 4) boxes of ``target``'s size centred on a lattice ``step`` (sx, sy) frame pixels
    apart over ``region`` (x, y, w, h); the caller keeps those its map covers."""
    x, y, w, h = (float(v) for v in region)
    return tile_candidates((x, y, x + w, y + h), np.asarray(target, np.float64), np.asarray(step, np.float64))


def pick_distractors(boxes: np.ndarray, scores: np.ndarray, target: np.ndarray, max_overlap: float,
                     threshold: float, n: int) -> np.ndarray:
    """Indices of at most ``n`` of ``boxes`` that overlap ``target`` at most ``max_overlap``
    (IoU) and score above ``threshold``, best first, none overlapping a better one by more
    than ``max_overlap`` (so one distractor gives one negative, not its neighbours too)."""
    boxes, scores = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).ravel()
    if n <= 0 or len(boxes) == 0:
        return np.zeros(0, dtype=int)
    away = np.flatnonzero((iou(boxes, target) <= max_overlap) & (scores > threshold))
    if len(away) == 0:
        return away
    kept = cv2.dnn.NMSBoxes(boxes[away].tolist(), scores[away].tolist(), float(threshold),
                            float(max_overlap), top_k=int(n))
    return away[np.asarray(kept, dtype=int).ravel()][:n]
