"""Box arithmetic on (x, y, w, h) arrays: pixel units, x/y the top-left corner,
0-based continuous coordinates (pixel i covers [i, i+1))."""
from __future__ import annotations

import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """View one box or an array of boxes as float64 (N, 4)."""
    arr = np.asarray(boxes, dtype=np.float64)
    return arr.reshape(-1, 4)


def iou(boxes, reference) -> np.ndarray:
    """Intersection over union of each of ``boxes`` (N, 4) with ``reference`` (4,) or (N, 4)."""
    a, b = as_boxes(boxes), as_boxes(reference)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def centers(boxes) -> np.ndarray:
    b = as_boxes(boxes)
    return b[:, :2] + b[:, 2:] / 2


def moved(box, shift) -> np.ndarray:
    """``box`` (x, y, w, h) moved by ``shift`` (dx, dy), its size kept."""
    out = np.asarray(box, dtype=np.float64).copy()
    out[:2] += np.asarray(shift, dtype=np.float64)
    return out


def validate_box(box, image_shape) -> np.ndarray:
    """Check a user box against an image of ``image_shape`` (H, W, ...).

    Returns the box as a float64 (4,) array. Raises ``ValueError`` with a reason a person
    can act on for NaN/inf values, non-positive sizes, or a box with no overlap with the image.
    """
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"a box needs 4 numbers (x, y, w, h), got {box!r}") from exc
    if b.size != 4:
        raise ValueError(f"a box needs 4 numbers (x, y, w, h), got {b.size}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"box {b.tolist()} contains NaN or infinite values")
    if b[2] <= 0 or b[3] <= 0:
        raise ValueError(f"box {b.tolist()} has non-positive width or height")
    h, w = image_shape[:2]
    if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise ValueError(f"box {b.tolist()} lies outside the {w}x{h} image")
    return b


def clip_box(box, image_shape, min_size: float = 1.0) -> np.ndarray:
    """``box`` validated (:func:`validate_box`) and clipped to an image of ``image_shape``.

    A box from outside (a user's click, a detector, an init message) may be any size; what
    the tracker can learn from is the part inside the image, so that part is kept and
    refused when it is smaller than ``min_size`` pixels on a side."""
    b = validate_box(box, image_shape)
    h, w = image_shape[:2]
    x0, y0 = np.clip(b[:2], 0, [w, h])
    x1, y1 = np.clip(b[:2] + b[2:], 0, [w, h])
    if x1 - x0 < min_size or y1 - y0 < min_size:
        raise ValueError(f"box {b.tolist()} clipped to the {w}x{h} image is {x1 - x0:.3g}x{y1 - y0:.3g} px, "
                         f"smaller than the tracker's minimum of {min_size:g} px a side")
    return np.array([x0, y0, x1 - x0, y1 - y0])
