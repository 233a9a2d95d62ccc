"""Where exactly the target's centre is, from a correlation filter (DSST's translation
filter: Danelljan et al., "Accurate Scale Estimation for Robust Visual Tracking", BMVC
2014; a multichannel MOSSE filter, Bolme et al., CVPR 2010).

Why it exists: the fast profile's classifier is trained to tell the target from the
background, with every box that overlaps the target by 0.7 or more labelled alike, and it
reads pooled features 16 px apart; the mean of its best candidates finds the target but
places it loosely (with the ground truth's centre our boxes would score 0.78 on
DragonBaby instead of 0.62). A correlation filter is trained for the other job: a sharp
peak exactly on the target's centre, learnt from every confident frame. The tracker keeps
its own search (the filter only moves the box it reports), so where the filter is wrong
(occlusion, a look-alike) the classifier's state is not. It runs on the grayscale frame
with OpenCV and numpy, in about a millisecond a frame; it draws no random numbers.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from .scale_filter import fold_model


class TranslationFilter:
    """A translation filter for a target first seen at ``box`` (x, y, w, h).

    Each frame it reads a window ``1 + padding`` times the target's size about a centre,
    resized to about ``template`` x ``template`` px, as ``cell`` x ``cell`` px cells of
    ``bins`` gradient-orientation channels and the gray level, under a Hann window. The model
    is a running average (``lr``) of each learnt frame's numerator and denominator; its
    label a Gaussian ``sigma_factor`` of the target's size wide.
    """

    def __init__(self, box: Sequence[float], padding: float = 1.5, template: int = 96, cell: int = 4,
                 lr: float = 0.025, lam: float = 1e-2, sigma_factor: float = 1.0 / 16, bins: int = 9):
        if padding <= 0 or not 0.0 < lr <= 1.0 or template < 8 * cell:
            raise ValueError(f"translation filter: need padding > 0, 0 < lr <= 1 and template >= 8 cells; "
                             f"got {padding}, {lr}, {template}")
        size = np.asarray(box[2:4], dtype=np.float64)
        self.padding, self.lr, self.lam, self.cell, self.bins = float(padding), float(lr), float(lam), int(cell), int(bins)
        window = size * (1 + self.padding)
        r = template / np.sqrt(np.prod(window))  # template px per frame px at the first size
        self._template = tuple(max(8 * cell, int(round(v * r / cell)) * cell) for v in window)
        gw, gh = self._template[0] // cell, self._template[1] // cell
        sigma = np.sqrt(np.prod(size)) * sigma_factor * r / cell
        ys, xs = np.arange(gh) - gh // 2, np.arange(gw) - gw // 2
        label = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None] ** 2) / sigma ** 2)
        self._label_f = np.fft.rfft2(np.fft.ifftshift(label))
        self._hann = np.outer(np.hanning(gh), np.hanning(gw))
        # Each template pixel's cell, times the bins: its orientation votes go to
        # cell * bins + bin (one bincount for the whole histogram).
        rows, cols = np.indices((self._template[1], self._template[0])) // cell
        self._cell_bins = ((rows * gw + cols) * bins).ravel()
        self._num = self._den = None

    def _window(self, size: Sequence[float]) -> Tuple[int, int]:
        w, h = (max(2, int(round(float(v) * (1 + self.padding)))) for v in size)
        return w, h

    def _features_f(self, gray: np.ndarray, centre: Sequence[float], size: Sequence[float]) -> np.ndarray:
        """The window's channels about ``centre`` for a target of ``size``, channels first,
        in the half spectrum (rfft2) over the cells."""
        patch = cv2.getRectSubPix(gray, self._window(size), (float(centre[0]), float(centre[1])))
        patch = cv2.resize(patch, self._template, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=1)
        gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=1)
        magnitude, angle = cv2.cartToPolar(gx, gy)
        # Unsigned orientation, each pixel's magnitude shared linearly by its two nearest
        # bins, summed per cell (a cell's mean, as an area resize of the channels would give).
        position = ((angle % np.float32(np.pi)) * np.float32(self.bins / np.pi)).ravel()
        low = np.floor(position)
        share = position - low
        low = low.astype(np.intp) % self.bins
        magnitude = magnitude.ravel()
        gh, gw = self._hann.shape
        n = gh * gw * self.bins
        hist = (np.bincount(self._cell_bins + low, magnitude * (1 - share), n)
                + np.bincount(self._cell_bins + (low + 1) % self.bins, magnitude * share, n))
        hog = hist.reshape(gh, gw, self.bins) / self.cell ** 2
        # Normalised per cell against the window's mean energy, so flat cells stay small.
        energy = hog.sum(axis=-1, keepdims=True)
        hog = np.sqrt(hog / (energy + energy.mean() + 1e-3))
        level = cv2.resize(patch, (gw, gh), interpolation=cv2.INTER_AREA) / 255.0 - 0.5
        channels = np.concatenate([hog.transpose(2, 0, 1), level[None]], axis=0)
        return np.fft.rfft2(channels * self._hann)

    def learn(self, gray: np.ndarray, centre: Sequence[float], size: Sequence[float]) -> None:
        """Fold the window about ``centre`` (the target's centre, of ``size``) into the model."""
        xf = self._features_f(gray, centre, size)
        self._num, self._den = fold_model(self._num, self._den, self._label_f, xf, self.lr)

    def estimate(self, gray: np.ndarray, centre: Sequence[float], size: Sequence[float]) -> np.ndarray:
        """The target's (dx, dy) from ``centre``, in frame pixels: where the model's
        response about ``centre`` peaks (to a fraction of a cell)."""
        return self.respond(gray, centre, size)[0]

    def respond(self, gray: np.ndarray, centre: Sequence[float], size: Sequence[float]) -> Tuple[np.ndarray, float]:
        """:meth:`estimate`'s shift and the response's peak-to-sidelobe ratio (Bolme et al.:
        the peak's height above the rest of the response, outside the 5 x 5 cells about it,
        in its standard deviations): how sure the filter is. A filter on its target answers
        with one sharp peak; one that lost it, or sees a look-alike, with a low, wide one."""
        if self._num is None:
            raise RuntimeError("TranslationFilter.estimate() before learn()")
        zf = self._features_f(gray, centre, size)
        gh, gw = self._hann.shape
        response = np.fft.irfft2((self._num.conj() * zf).sum(axis=0) / (self._den + self.lam), s=(gh, gw))
        iy, ix = np.unravel_index(int(np.argmax(response)), response.shape)
        dy = _vertex(response[(iy - 1) % gh, ix], response[iy, ix], response[(iy + 1) % gh, ix])
        dx = _vertex(response[iy, (ix - 1) % gw], response[iy, ix], response[iy, (ix + 1) % gw])
        shift = (np.array([ix + dx, iy + dy]) + np.array([gw, gh]) // 2) % np.array([gw, gh]) - np.array([gw, gh]) // 2
        outside = np.ones(response.shape, dtype=bool)  # all but the 5 x 5 cells about the peak
        outside[np.ix_((iy + np.arange(-2, 3)) % gh, (ix + np.arange(-2, 3)) % gw)] = False
        sidelobe = response[outside]
        psr = float((response[iy, ix] - sidelobe.mean()) / (sidelobe.std() + 1e-12))
        return shift * self.cell * np.asarray(self._window(size), dtype=np.float64) / np.asarray(self._template), psr


def _vertex(left: float, middle: float, right: float) -> float:
    """Where the peak through three neighbouring responses lies, from the middle one: a
    parabola through their logarithms (exact for the Gaussian the filter is trained to
    answer, whose peak is under two cells wide), or through the values themselves where
    one is not positive."""
    if min(left, middle, right) > 0:
        left, middle, right = np.log(left), np.log(middle), np.log(right)
    curvature = left - 2.0 * middle + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
