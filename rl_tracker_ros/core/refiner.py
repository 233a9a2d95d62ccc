"""The reported box refined by correlation filters that keep learning (DSST's pair: a
translation filter, then a scale filter at the centre it gives).

Why it exists: the classifier finds the target; box regression, fitted on the first frame,
sizes it. Neither places the box tightly on a CPU budget (stride-16 pooled features, one
regression for the whole sequence). The two filters learn the target's appearance at every
confident frame and answer "how far off, how much larger" in a millisecond or a few. The
box they move is the one that goes out: the tracker's search state stays the classifier's,
so a filter that is wrong for a while (occlusion, a look-alike) does not move the search.
The translation filter may also say where to look (:meth:`BoxRefiner.locate`, the
tracker's ``filter_search_share``): some of the next frame's candidates are drawn about its
peak, and the classifier still chooses among all of them (a target that moves more than
the candidates' spread in a frame, a small surfer, stays inside the search).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .boxes import centers
from .scale_filter import ScaleFilter, blend_size, gray_frame
from .translation_filter import TranslationFilter


class BoxRefiner:
    """The filters for a target first seen at ``box`` in ``frame`` (RGB or gray uint8).

    ``translation_weight``: the share of the translation filter's shift applied to the
    box's centre (0: no translation filter); ``scale_weight``: the scale filter's share of
    the box's log-size (0: no scale filter). ``translation``/``scale``: each filter's own
    settings (``TranslationFilter``, ``ScaleFilter``)."""

    def __init__(self, frame: np.ndarray, box: np.ndarray, translation_weight: float, scale_weight: float,
                 translation: Optional[dict] = None, scale: Optional[dict] = None):
        self.translation_weight, self.scale_weight = float(translation_weight), float(scale_weight)
        self.translation = TranslationFilter(box, **(translation or {})) if self.translation_weight > 0 else None
        self.scale = ScaleFilter(box, **(scale or {})) if self.scale_weight > 0 else None
        box = np.asarray(box, dtype=np.float64)
        # What the next learn() folds in: (gray, centre, size); first the first frame's box.
        self._pending: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = (gray_frame(frame), centers(box)[0],
                                                                               box[2:4].copy())
        self.learn()

    def refine(self, frame: np.ndarray, box: np.ndarray, learn: bool = True) -> np.ndarray:
        """``box`` moved and resized by the filters in ``frame``; that box is what
        :meth:`learn` learns (call it after the box has gone out), unless ``learn`` is
        False (a frame the filters should not learn from: nothing is left to learn)."""
        gray = gray_frame(frame)
        box = np.asarray(box, dtype=np.float64).copy()
        if self.translation is not None:
            shift = self.translation.estimate(gray, centers(box)[0], box[2:4])
            box[:2] += self.translation_weight * shift
        centre = centers(box)[0]  # the resizing keeps it: both filters learn about it
        if self.scale is not None:
            box = blend_size(box, self.scale.estimate(gray, centre), self.scale_weight)
        self._pending = (gray, centre, box[2:4]) if learn else None
        return box

    def locate(self, frame: np.ndarray, box: np.ndarray) -> Optional[Tuple[np.ndarray, float]]:
        """Where the translation filter puts the target's centre in ``frame``, searched
        about ``box`` (x, y), and how sharp its peak is (the peak-to-sidelobe ratio); None
        without a translation filter."""
        if self.translation is None:
            return None
        box = np.asarray(box, dtype=np.float64)
        centre = centers(box)[0]
        shift, sharpness = self.translation.respond(gray_frame(frame), centre, box[2:4])
        return centre + shift, sharpness

    def learn(self) -> None:
        """Fold the last refined frame (at first, the first frame) into both models, once;
        nothing if none is waiting."""
        if self._pending is None:
            return
        gray, centre, size = self._pending
        self._pending = None
        if self.translation is not None:
            self.translation.learn(gray, centre, size)
        if self.scale is not None:
            self.scale.learn(gray, centre)
