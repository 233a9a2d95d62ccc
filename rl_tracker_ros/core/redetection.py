"""Where to look for a lost target: the whole frame, one trunk-sized tile per frame.

The local search (candidates around the last box, widened after failures) cannot find a
target that reappears elsewhere: after an occlusion, a jump or a stretch of frames the
camera lost. Once the tracker is LOST it searches the whole frame instead, at the scale
it tracks at (the classifier was trained on features of the target at a paper crop's
scale; read at a lower resolution they are not the features it knows). At that scale
the frame usually exceeds what one trunk pass may cover in a frame's budget, so the
frame is cut into tiles of at most ``side`` trunk pixels, visited one per frame, nearest
the last known position first, round and round until the target is found.

In each tile the candidates are boxes of the last confident size on a lattice of map
cells (``step`` trunk pixels apart): the classifier scores every position of the tile
from the tile's one trunk pass, as fc4 applied as a convolution would.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


def tile_centres(lo: float, hi: float, span: float) -> np.ndarray:
    """Centres of the fewest tiles of width ``span`` covering ``[lo, hi]`` (frame pixels),
    evenly spread with the outer ones flush with the ends."""
    length = max(hi - lo, 0.0)
    n = max(1, int(np.ceil(length / span - 1e-9))) if span > 0 else 1
    if n == 1:
        return np.array([(lo + hi) / 2])
    return lo + span / 2 + np.arange(n) * (length - span) / (n - 1)


def search_tiles(frame_shape, target: np.ndarray, scale: np.ndarray, side: int,
                 crop_size: int) -> List[Tuple[float, float, float, float]]:
    """The tiles (cx0, cy0, cx1, cy1: the range of candidate centres, frame pixels) that
    together hold every centre keeping a ``target``-sized box inside the frame, nearest
    the target first.

    ``scale`` (sx, sy) maps frame to trunk pixels. A tile's trunk pass covers its centres'
    range plus one crop (each box's context is ``crop_size`` trunk pixels at that scale),
    so the range spans ``side - crop_size`` trunk pixels.
    """
    h, w = frame_shape[:2]
    bw, bh = (float(v) for v in target[2:])
    span = np.maximum(side - crop_size, 1) / np.asarray(scale, dtype=np.float64)
    xs = tile_centres(min(bw / 2, w / 2), max(w - bw / 2, w / 2), span[0])
    ys = tile_centres(min(bh / 2, h / 2), max(h - bh / 2, h / 2), span[1])
    cx, cy = target[0] + bw / 2, target[1] + bh / 2
    tiles = []
    for x in xs:
        for y in ys:
            tiles.append((max(x - span[0] / 2, 0.0), max(y - span[1] / 2, 0.0),
                          min(x + span[0] / 2, w), min(y + span[1] / 2, h)))
    tiles.sort(key=lambda t: ((t[0] + t[2]) / 2 - cx) ** 2 + ((t[1] + t[3]) / 2 - cy) ** 2)
    return tiles


def tile_candidates(tile, target: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(N, 4) boxes of ``target``'s size centred on a lattice over ``tile``'s centre range,
    ``step`` (sx, sy) frame pixels apart, the lattice centred in the range."""
    cx0, cy0, cx1, cy1 = tile
    axes = []
    for lo, hi, s in ((cx0, cx1, step[0]), (cy0, cy1, step[1])):
        n = int(np.floor((hi - lo) / s + 1e-9)) + 1
        axes.append((lo + hi) / 2 + (np.arange(n) - (n - 1) / 2) * s)
    gx, gy = np.meshgrid(*axes)
    bw, bh = target[2], target[3]
    return np.stack([gx.ravel() - bw / 2, gy.ravel() - bh / 2,
                     np.full(gx.size, bw), np.full(gx.size, bh)], axis=1)
