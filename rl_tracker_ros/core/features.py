"""Trunk features of boxes in one frame: per-box crops (``paper``) or pooled from one
trunk pass over a search region (``fast``).

Both sources have the same two steps, so the tracker's data flow and stage timing are
the same for either: ``prepare(boxes)`` (cut crops / nothing) and ``features(prepared)``
(trunk / pooling), plus ``sample_set(boxes)`` for training samples.

The paper's tracker cuts a 107x107 crop per candidate and runs the trunk on each: 256
trunk passes per frame, most of them over the same pixels. Here the frame region that
holds every box of interest is resampled once, at the scale that makes the target box
``crop_size - 2 * padding`` pixels wide and high (the scale a paper crop gives it), the
trunk runs once on it, the map is max-pooled with the trunk's final window (stride 1),
and each box's features are read bilinearly at the cells its own crop's pooled map
keeps (``Backbone.map_cells``): RoIAlign with one sample per output cell.
"""
from __future__ import annotations

import contextlib
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .crops import context_regions, extract_crops, frame_to_tensor, resample_regions
from .training import SampleSet


def covering_region(boxes: np.ndarray, crop_size: int, padding: int) -> np.ndarray:
    """The smallest frame region (x, y, w, h) holding the crop context of every box."""
    ctx = context_regions(boxes, crop_size, padding)
    lo = ctx[:, :2].min(axis=0)
    hi = (ctx[:, :2] + ctx[:, 2:]).max(axis=0)
    return np.concatenate([lo, hi - lo])


def aligned_sizes(sides: np.ndarray, crop_size: int, step: int, max_side: int) -> np.ndarray:
    """Trunk-pixel sizes for a region of ``sides``: the nearest not smaller (or, above
    ``max_side``, the largest not above it) that leave the same remainder modulo the
    trunk's total stride ``step`` as ``crop_size``.

    Why: a TF-'same' strided layer pads by one pixel more on an even input than on an
    odd one, so the map's grid shifts by up to a cell with the input size; measured on
    MobileNet, the same box read from regions 1..15 px larger had features with cosine
    similarity down to 0.92 to its own, 1.00 at 16. Sizes in step with the crop keep every
    region's grid where a crop's is, so features from different frames agree.
    """
    rem = crop_size % step
    smallest = rem + step * max(0, -(-(16 - rem) // step))   # at least 16 px
    largest = max((max_side - rem) // step * step + rem, smallest)
    up = np.ceil((np.asarray(sides, dtype=np.float64) - rem) / step - 1e-9) * step + rem
    return np.clip(up, smallest, largest).astype(int)


def tracking_scale(target: np.ndarray, crop_size: int, padding: int, zoom: float = 1.0) -> np.ndarray:
    """(sx, sy) frame-to-trunk pixels that make ``target`` ``zoom`` times a paper crop's
    inner box (``crop_size - 2 * padding``) wide and high: the scale features are read at."""
    inner = crop_size - 2 * padding
    return zoom * inner / np.maximum(np.asarray(target, dtype=np.float64)[2:], 1e-6)


def trunk_precision(device: torch.device, dtype: Optional[torch.dtype]):
    """Autocast context for the frozen trunk (``dtype`` None: full float32)."""
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class CropFeatures:
    """The paper's way: a ``crop_size`` crop per box, the trunk on each (in chunks)."""

    def __init__(self, trunk, frame_t: torch.Tensor, crop_size: int, padding: int, chunk_size: int,
                 keep_crops: bool, feature_dim: int, dtype: Optional[torch.dtype] = None):
        self.trunk = trunk
        self.feature_dim = feature_dim  # known to the tracker; the trunk's property probes
        self.frame_t = frame_t
        self.crop_size = crop_size
        self.padding = padding
        self.chunk_size = chunk_size
        self.keep_crops = keep_crops  # input-level attention training needs them
        self.dtype = dtype

    def prepare(self, boxes: np.ndarray) -> torch.Tensor:
        return extract_crops(self.frame_t, boxes, self.crop_size, self.padding)

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), trunk_precision(crops.device, self.dtype):
            out = [self.trunk(c.float().contiguous(memory_format=torch.channels_last)).float()
                   for c in crops.split(self.chunk_size)]
        return torch.cat(out) if out else torch.zeros(0, self.feature_dim, device=crops.device)

    def sample_set(self, boxes: np.ndarray) -> SampleSet:
        crops = self.prepare(boxes)
        return SampleSet(self.features(crops), crops if self.keep_crops else None)

    def inside(self, boxes: np.ndarray) -> np.ndarray:
        return np.ones(len(boxes), dtype=bool)


class RegionFeatures:
    """One trunk pass over ``region`` of the frame; ``features(boxes)`` pools from it.

    ``target`` sets the resampling scale (its box becomes ``zoom * (crop_size - 2 *
    padding)`` pixels square; zoom 1 is the scale of a paper crop, and the trunk's cost
    falls with zoom squared). ``max_side`` caps the resampled region in trunk
    pixels: a larger region is cut down around its centre, and boxes reaching beyond it
    read the map's border cells; around ``keep`` instead, if given (a box whose crop
    context must stay inside: the first frame's target, whose whole-frame negatives
    would otherwise centre the region on the frame and cut the target out).
    """

    def __init__(self, trunk, frame: np.ndarray, region: np.ndarray, target: np.ndarray,
                 crop_size: int, padding: int, max_side: int, zoom: float = 1.0,
                 dtype: Optional[torch.dtype] = None, device: torch.device = torch.device("cpu"),
                 dense: bool = False, keep: Optional[np.ndarray] = None, mid: bool = False):
        if dense and trunk.dense_stride is None:
            raise ValueError(f"region_dense: the {trunk.name} trunk has no dense map")
        self.trunk = trunk
        self.dense = dense
        # Where map cell j sits in trunk pixels: stride * j + first.
        self.stride, self.first = ((trunk.dense_stride, trunk.dense_first) if dense
                                   else (trunk.map_stride, trunk.map_first))
        self.crop_size = crop_size
        self.padding = padding
        self.scale = tracking_scale(target, crop_size, padding, zoom)  # (sx, sy)
        region = np.asarray(region, dtype=np.float64)
        step = int(round(trunk.map_stride))
        sizes = aligned_sizes(region[2:] * self.scale, crop_size, step, max_side)
        # The region grows (or, past max_side, shrinks) about its centre to those sizes, at
        # the exact scale: boxes land on the trunk's grid as they do in their own crops.
        centre = region[:2] + region[2:] / 2
        size = sizes / self.scale
        if keep is not None:
            centre = _keeping(centre, size, context_regions(np.asarray(keep, np.float64)[None], crop_size, padding)[0])
        self.region = np.concatenate([centre - size / 2, size])
        region = self.region
        out_w, out_h = (int(v) for v in sizes)
        # Only the frame pixels the region reads (plus a bilinear margin) are converted and
        # sent to the device; outside the frame they read as grey either way.
        h, w = frame.shape[:2]
        x0, y0 = (int(np.clip(np.floor(v) - 2, 0, n - 1)) for v, n in zip(region[:2], (w, h)))
        x1, y1 = (int(np.clip(np.ceil(v) + 2, lo + 1, n)) for v, lo, n in
                  zip(region[:2] + region[2:], (x0, y0), (w, h)))
        window = frame_to_tensor(frame[y0:y1, x0:x1], device)
        self.image = resample_regions(window, (region - [x0, y0, 0, 0])[None], out_w, out_h)
        self.dtype = dtype
        self.keep_mid = mid  # also keep the trunk's mid-level map (box regression reads it)
        self._map = None
        self._mid = None

    @property
    def map(self) -> torch.Tensor:
        """The trunk's map of the region, max-pooled with the trunk's final window so each
        cell holds the value its pooled crop cell would: computed on first use (the one
        trunk pass of the frame)."""
        if self._map is None:
            t = self.trunk
            x = self.image.float().contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), trunk_precision(x.device, self.dtype):
                xp = t.preprocess(x)
                if self.keep_mid:
                    m, mid = t.feature_maps(xp, dense=True) if self.dense else t.feature_maps(xp)
                    # Left in the trunk's channels_last layout: only a few boxes read it,
                    # and converting it cost more (1.4 ms here) than the read.
                    self._mid = mid.float()
                else:
                    m = t.feature_map(xp, dense=True) if self.dense else t.feature_map(xp)
                m = m.float()
                if t.map_window > 1:  # dense: the same window over every other cell
                    d = int(round(t.map_stride / self.stride))
                    if d == 1:
                        m = F.max_pool2d(m, t.map_window, 1, padding=t.map_window // 2)
                    else:  # torch caps a pool's own padding at half its kernel
                        pad = (d * (t.map_window // 2),) * 4
                        m = F.max_pool2d(F.pad(m, pad, value=-float("inf")), t.map_window, 1, dilation=d)
            self._map = m.contiguous()  # grid_sample is faster on NCHW
        return self._map

    def inside(self, boxes: np.ndarray) -> np.ndarray:
        """Mask of boxes whose crop context lies inside the region, i.e. whose features
        come from real map cells (training samples are kept only then)."""
        ctx = context_regions(boxes, self.crop_size, self.padding)
        lo, hi = self.region[:2] - 1e-6, self.region[:2] + self.region[2:] + 1e-6
        return np.all((ctx[:, :2] >= lo) & (ctx[:, :2] + ctx[:, 2:] <= hi), axis=1)

    def prepare(self, boxes: np.ndarray) -> np.ndarray:
        return boxes

    def sample_set(self, boxes: np.ndarray) -> SampleSet:
        return SampleSet(self.features(boxes))

    def features(self, boxes: np.ndarray) -> torch.Tensor:
        """(N, D) features of ``boxes`` (frame pixels), as the trunk gives for crops."""
        t = self.trunk
        cells = torch.as_tensor(t.map_cells, dtype=torch.float32) * t.map_stride + t.map_first
        return self._read(self.map, boxes, cells / self.crop_size, self.stride, self.first)

    def mid_features(self, boxes: np.ndarray, grid: int) -> torch.Tensor:
        """(N, C * grid * grid) features of ``boxes`` from the mid-level map: a ``grid`` x
        ``grid`` lattice spread evenly over each box's crop context, read bilinearly, no
        pooling.

        Why: at the final map's stride (16) and receptive field, a box smaller than the
        target reads nearly the features of the target's own box, so neither the
        classifier nor a regression on its features sees the box's scale
        (docs/fast_profile.md). At stride 8, with a 43 px receptive field (MobileNet), the
        lattice's outer points fall on the target's edges or off them.
        """
        if not self.keep_mid:
            raise RuntimeError("mid_features: this region was built without its mid-level map (mid=False)")
        self.map  # the one trunk pass computes both maps
        frac = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid
        return self._read(self._mid, boxes, frac, self.trunk.mid_stride, self.trunk.mid_first)

    def _read(self, m: torch.Tensor, boxes: np.ndarray, frac: torch.Tensor, stride: float,
              first: float) -> torch.Tensor:
        """(N, C * k * k): map ``m`` (cell j centred on trunk pixel ``stride * j + first``)
        read bilinearly at the k x k points ``frac`` (fractions of the side) of each box's
        crop context: RoIAlign with one sample per output cell."""
        n, k, dev = len(boxes), len(frac), m.device
        if n == 0:
            return torch.zeros(0, m.shape[1] * k * k, device=dev)
        ctx = torch.as_tensor(context_regions(boxes, self.crop_size, self.padding),
                              dtype=torch.float32, device=dev)
        frac = frac.to(dev)
        origin = torch.as_tensor(self.region[:2], dtype=torch.float32, device=dev)
        px = torch.as_tensor(self.scale, dtype=torch.float32, device=dev)  # frame -> trunk px, exact
        # Frame -> trunk pixels -> continuous map cell index -> grid_sample's [-1, 1].
        u = ((ctx[:, 0:1] + frac[None] * ctx[:, 2:3]) - origin[0]) * px[0]      # (N, k)
        v = ((ctx[:, 1:2] + frac[None] * ctx[:, 3:4]) - origin[1]) * px[1]
        hf, wf = m.shape[-2:]
        gx = (2.0 * ((u - first) / stride) + 1.0) / wf - 1.0
        gy = (2.0 * ((v - first) / stride) + 1.0) / hf - 1.0
        grid = torch.stack([gx[:, None, :].expand(n, k, k), gy[:, :, None].expand(n, k, k)], dim=-1)
        pooled = F.grid_sample(m, grid.reshape(1, n * k, k, 2), mode="bilinear",
                               padding_mode="border", align_corners=False)
        return pooled.view(-1, n, k * k).transpose(0, 1).reshape(n, -1) * self.trunk.feature_scale


def _keeping(centre: np.ndarray, size: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """``centre`` moved as little as needed for a region of ``size`` to hold ``ctx``
    (x, y, w, h), or onto ``ctx``'s centre where it cannot."""
    slack = np.maximum(size - ctx[2:], 0.0) / 2
    ctx_centre = ctx[:2] + ctx[2:] / 2
    return np.clip(centre, ctx_centre - slack, ctx_centre + slack)


def map_shape(trunk, crop_size: int) -> Tuple[int, int, int]:
    """(C, k, k): the shape the flat features of ``trunk`` unflatten to (for feature-level
    attention maps)."""
    p = next(trunk.parameters())
    with torch.no_grad():
        probe = torch.zeros(1, 3, crop_size, crop_size, device=p.device, dtype=p.dtype)
        out = trunk.features(trunk.preprocess(probe))
    return tuple(int(v) for v in out.shape[1:])
