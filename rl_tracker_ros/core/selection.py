"""Which candidates make the box: the classifier's scores, optionally weighed against
how far each candidate moved from the last box (a displacement prior).

MDNet averages the top-k candidates by score alone. Where a similar object stands
within the search (Football's crossing players), a candidate on it can out-score the
target by a hair, and the average of a top-k split between the two lands between them.
Siamese trackers resolve the same ambiguity with a window over the search (SiamFC's
cosine window, mixed in with ``window_influence``): among near-equal responses, the one
closer to where the target was wins. Here the window is the candidates' own sampling
density (a Gaussian of the search spread), so a wider search (after failures or
skipped frames) also widens the window.
"""
from __future__ import annotations

import torch


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
