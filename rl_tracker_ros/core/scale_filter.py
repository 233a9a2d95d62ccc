"""A target's size from a one-dimensional correlation filter over scales (DSST: Danelljan et
al., "Accurate Scale Estimation for Robust Visual Tracking", BMVC 2014).

Why it exists: the fast profile's classifier reads pooled features that barely see a box's
scale, so its best candidates' size drifts (Coke's box to 1.2x the target over a sequence),
and box regression is fitted on the first frame only. This filter learns, and keeps
learning, how the target looks at a ladder of scales about its centre (HOG of each scale
sample resized to one template), so it answers "how much larger or smaller than last
frame" from appearance at every frame. It runs on the grayscale frame, on the CPU, in
about 2-4 ms; it knows nothing of the classifier and draws no random numbers.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .boxes import centers


class ScaleFilter:
    """DSST's scale filter for a target first seen at ``box`` (x, y, w, h).

    ``n_scales`` samples at ``step ** k`` (k centred on 0) of the current size; the filter's
    answer is the factor whose sample correlates best with the learnt model, and the
    model is a running average (``lr``) of each learnt frame's. The aspect ratio is the
    first box's: the filter estimates one scale.
    """

    def __init__(self, box: Sequence[float], n_scales: int = 33, step: float = 1.02, lr: float = 0.025,
                 lam: float = 1e-2, sigma_factor: float = 0.25, template_area: float = 1024.0, cell: int = 4):
        if n_scales < 3 or step <= 1.0 or not 0.0 < lr <= 1.0:
            raise ValueError(f"scale filter: need n_scales >= 3, step > 1 and 0 < lr <= 1; got {n_scales}, {step}, {lr}")
        k = np.arange(n_scales) - (n_scales - 1) / 2
        self.factors = step ** k
        sigma = np.sqrt(n_scales) * sigma_factor
        # Real samples and label: the half spectrum (rfft) holds everything, at half the work.
        self._label_f = np.fft.rfft(np.exp(-0.5 * k ** 2 / sigma ** 2))
        self._window = np.hanning(n_scales)
        self.lr, self.lam = float(lr), float(lam)
        self.size = np.array(box[2:4], dtype=np.float64)
        # One template for every scale sample: the first box's aspect, ``template_area`` px,
        # whole HOG cells (a block of 2 x 2 cells, moved a cell at a time).
        r = np.sqrt(template_area / float(np.prod(self.size)))
        tw, th = (max(2 * cell, int(round(s * r / cell)) * cell) for s in self.size)
        self._template = (tw, th)
        self._hog = cv2.HOGDescriptor((tw, th), (2 * cell, 2 * cell), (cell, cell), (cell, cell), 9)
        self._num = self._den = None
        self._last = None  # (gray, centre, ladder, its transform, step) of the last estimate

    def _ladder(self, gray: np.ndarray, centre: Sequence[float], steps: Sequence[int]) -> np.ndarray:
        """(d, len(steps)) HOG features of the samples at the current size times
        ``factors[steps]`` about ``centre``, each resized to the template."""
        cx, cy = float(centre[0]), float(centre[1])
        sizes = np.maximum(np.round(self.size[None] * self.factors[list(steps), None]), 2).astype(int)
        rows = [self._hog.compute(cv2.resize(cv2.getRectSubPix(gray, (int(w), int(h)), (cx, cy)), self._template,
                                             interpolation=cv2.INTER_LINEAR)).ravel() for w, h in sizes]
        return np.stack(rows, axis=1)

    def _transform(self, ladder: np.ndarray) -> np.ndarray:
        """(d, n_scales // 2 + 1): the ladder Fourier-transformed along the scales (windowed,
        as DSST does, so the ends weigh less; each feature's scales contiguous)."""
        return np.fft.rfft(ladder * self._window, axis=1)

    def learn(self, gray: np.ndarray, centre: Sequence[float]) -> None:
        """Fold this frame's ladder, at the current size about ``centre``, into the model."""
        last, self._last = self._last, None
        n = len(self.factors)
        if last is not None and last[0] is gray and np.array_equal(last[1], centre):
            # The ladder the estimate just read, about the same centre in the same frame:
            # the new size is one of its samples, so the new ladder is the old one moved by
            # the step the estimate took, and only the samples beyond its end are read.
            ladder, sf, step = last[2:]
            if step != 0:
                keep = np.arange(max(0, -step), min(n, n - step))
                fresh = np.setdiff1d(np.arange(n), keep)
                moved = np.empty_like(ladder)
                moved[:, keep] = ladder[:, keep + step]
                moved[:, fresh] = self._ladder(gray, centre, fresh)
                sf = self._transform(moved)
        else:
            sf = self._transform(self._ladder(gray, centre, range(n)))
        self._num, self._den = fold_model(self._num, self._den, self._label_f, sf, self.lr)

    def estimate(self, gray: np.ndarray, centre: Sequence[float]) -> np.ndarray:
        """The target's (w, h) in ``gray`` about ``centre``: the current size times the
        factor whose sample the model answers best. Becomes the current size."""
        if self._num is None:
            raise RuntimeError("ScaleFilter.estimate() before learn()")
        n = len(self.factors)
        ladder = self._ladder(gray, centre, range(n))
        sf = self._transform(ladder)
        response = np.fft.irfft((self._num.conj() * sf).sum(axis=0) / (self._den + self.lam), n=n)
        best = int(np.argmax(response))
        self.size = self.size * self.factors[best]
        # Learning about the same centre in this frame reuses this ladder.
        self._last = (gray, np.array(centre, dtype=np.float64), ladder, sf, best - n // 2)
        return self.size.copy()


def fold_model(num: Optional[np.ndarray], den: Optional[np.ndarray], label_f: np.ndarray, xf: np.ndarray,
               lr: float) -> Tuple[np.ndarray, np.ndarray]:
    """A MOSSE-family filter's (numerator, denominator) with one more sample's spectrum
    ``xf`` (features on axis 0) folded in at the running-average rate ``lr`` (the sample's
    own model when there is none yet). Shared by the scale and translation filters."""
    new_num = label_f.conj() * xf
    new_den = (xf.real ** 2 + xf.imag ** 2).sum(axis=0)
    if num is None:
        return new_num, new_den
    return (1 - lr) * num + lr * new_num, (1 - lr) * den + lr * new_den


def gray_frame(frame: np.ndarray) -> np.ndarray:
    """The uint8 grayscale of an RGB (or already single-channel) uint8 frame."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def blend_size(box: np.ndarray, size: np.ndarray, weight: float) -> np.ndarray:
    """``box`` with its size moved to ``size`` by ``weight`` in log scale (0: the box's own,
    1: ``size``), about the box's centre. Two size estimates with unrelated errors (box
    regression, fitted once; the scale filter, which keeps learning) average to one
    with less."""
    wh = np.exp((1.0 - weight) * np.log(box[2:4]) + weight * np.log(size))
    centre = centers(box)[0]
    return np.concatenate([centre - wh / 2, wh])
