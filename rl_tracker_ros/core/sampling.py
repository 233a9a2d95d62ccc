"""Sample boxes around a target: the three MDNet/DAT generators and IoU-filtered draws.

All generators are vectorised numpy over one ``np.random.Generator`` owned by the
tracker, so a fixed seed gives a fixed run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .boxes import as_boxes, iou


@dataclass
class SampleGenerator:
    """Draws boxes around a reference box.

    kind: ``gaussian`` (translation ``trans * mean(w, h) * clip(N(0, 0.5), -1, 1)``, scale
    ``scale ** clip(N(0, 0.5), -1, 1)``), ``uniform`` (the same spread drawn uniformly in
    [-1, 1]) or ``whole`` (centres on a grid over the whole image, uniform scale).
    ``aspect`` perturbs the aspect ratio by ``aspect ** U(-1, 1)`` per side.
    """

    kind: str
    image_size: Tuple[int, int]          # (width, height)
    trans: float = 1.0
    scale: float = 1.0
    aspect: Optional[float] = None
    min_size: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in ("gaussian", "uniform", "whole"):
            raise ValueError(f"unknown sample generator kind {self.kind!r}")

    def __call__(self, box, n: int, rng: np.random.Generator) -> np.ndarray:
        bb = as_boxes(box)[0]
        img = np.asarray(self.image_size, dtype=np.float64)
        centre = bb[:2] + bb[2:] / 2
        size = np.tile(bb[2:], (n, 1))
        if self.aspect is not None:
            size *= self.aspect ** rng.uniform(-1, 1, (n, 2))
        if self.kind == "gaussian":
            xy = centre + self.trans * bb[2:].mean() * np.clip(0.5 * rng.standard_normal((n, 2)), -1, 1)
            size *= self.scale ** np.clip(0.5 * rng.standard_normal((n, 1)), -1, 1)
        elif self.kind == "uniform":
            xy = centre + self.trans * bb[2:].mean() * rng.uniform(-1, 1, (n, 2))
            size *= self.scale ** rng.uniform(-1, 1, (n, 1))
        else:  # whole image: a grid of centres, shuffled
            m = max(int(2 * np.sqrt(n)), 2)
            grid = np.stack(np.meshgrid(np.linspace(0, 1, m), np.linspace(0, 1, m)), -1).reshape(-1, 2)
            grid = grid[rng.permutation(len(grid))[:n]]
            xy = bb[2:] / 2 + grid * (img - bb[2:] / 2 - 1)
            size *= self.scale ** rng.uniform(-1, 1, (n, 1))
        hi = np.maximum(img - self.min_size, self.min_size)
        size = np.clip(size, self.min_size, hi)
        xy = np.clip(xy, 0, img)
        return np.concatenate([xy - size / 2, size], axis=1)


def draw_samples(
    generator: SampleGenerator,
    box,
    n: int,
    rng: np.random.Generator,
    overlap: Optional[Tuple[float, float]] = None,
    max_rounds: int = 20,
) -> np.ndarray:
    """Draw ``n`` boxes whose IoU with ``box`` lies in ``overlap`` = [lo, hi].

    Draws in rounds of 2n until enough qualify (or ``max_rounds`` pass, then returns
    what it has: a tiny box in a huge image may not admit n high-IoU samples).
    """
    if n <= 0:
        return np.zeros((0, 4))
    if overlap is None:
        return generator(box, n, rng)
    lo, hi = overlap
    kept = []
    count = 0
    for _ in range(max_rounds):
        cand = generator(box, 2 * n, rng)
        r = iou(cand, box)
        ok = cand[(r >= lo) & (r <= hi)]
        kept.append(ok)
        count += len(ok)
        if count >= n:
            break
    pool = np.concatenate(kept, axis=0)
    if len(pool) > n:
        pool = pool[rng.choice(len(pool), n, replace=False)]
    return pool
