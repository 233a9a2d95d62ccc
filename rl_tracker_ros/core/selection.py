"""Which candidates make the box: the classifier's scores, optionally weighed against
how far each candidate moved from the last box (a displacement prior).

MDNet averages the top-k candidates by score alone. Where a similar object stands
within the search (Football's crossing players), a candidate on it can out-score the
target by a hair, and the average of a top-k split between the two lands between them.
Siamese trackers resolve the same ambiguity with a window over the search (SiamFC's
cosine window, mixed in with ``window_influence``): among near-equal responses, the one
closer to where the target was wins. Here the window is the candidates' own sampling
density (a Gaussian of the search spread), so a wider search (after failures or
skipped frames) also widens the window. ``nearer_group`` resolves it only where the top-k
split over two objects, keeping the group nearer the last box. Neither is in a profile:
both held Football's player at full speed and lost more once frames were skipped
(docs/fast_profile.md, the fifteenth and sixteenth rounds).
"""
from __future__ import annotations

import numpy as np
import torch

from .boxes import centers, iou


def windowed_ranking(scores: torch.Tensor, centres: torch.Tensor, centre: torch.Tensor, sigma: float,
                     influence: float) -> torch.Tensor:
    """Ranking values for candidates: ``(1 - influence)`` x the scores rescaled to [0, 1]
    over this frame's candidates, plus ``influence`` x exp(-d^2 / 2 sigma^2), ``d`` each
    candidate centre's distance (pixels) from ``centre``. ``influence`` 0 ranks by score
    alone (the same order as ``scores``). The rescaling makes the mix independent of the
    logits' scale, which differs by a factor of ten between sequences."""
    if influence <= 0:
        return scores
    lo, hi = scores.min(), scores.max()
    spread = torch.clamp(hi - lo, min=torch.finfo(scores.dtype).eps)
    d2 = ((centres - centre) ** 2).sum(dim=1)
    window = torch.exp(-d2 / (2.0 * sigma ** 2))
    return (1.0 - influence) * (scores - lo) / spread + influence * window


def nearer_group(boxes: np.ndarray, last: np.ndarray, split_iou: float) -> np.ndarray:
    """Indices of the top-k candidates ``boxes`` (best score first) that make the box.

    MDNet averages all of them. When they fall on two objects, the best candidate's group
    (those overlapping it by at least ``split_iou``) and the best of the rest with its
    own group, at least two candidates each, the average lies between the objects, on
    neither; then the group whose mean centre is nearer ``last`` (the previous box) is
    kept: among two look-alikes the classifier cannot tell apart, the target is the one
    that stayed where the target was.
    A top-k on one object (the usual case) is kept whole, however far it moved, so unlike
    a window this does not hold back a fast target. ``split_iou`` 0: always all (MDNet).
    """
    everything = np.arange(len(boxes))
    if split_iou <= 0 or len(boxes) < 2:
        return everything
    first = iou(boxes, boxes[0]) >= split_iou
    if first.all():
        return everything
    rest = np.flatnonzero(~first)
    second = rest[iou(boxes[rest], boxes[rest[0]]) >= split_iou]
    groups = [np.flatnonzero(first), second]
    if min(len(g) for g in groups) < 2:
        return everything  # a single stray candidate is no second object
    dist = [np.linalg.norm(centers(boxes[g]).mean(axis=0) - centers(last)[0]) for g in groups]
    return groups[int(np.argmin(dist))]
