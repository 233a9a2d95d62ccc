"""One-pass evaluation (OPE) metrics as the OTB benchmark defines them.

Success plot: fraction of frames whose IoU with the ground truth exceeds each threshold
in 0, 0.05, ..., 1; its area under the curve (AUC) is the mean of those fractions.
Precision plot: fraction of frames whose centre error is within each threshold 0..50 px;
precision@20 is the value at 20 px. Frames whose ground truth is missing (NaN) or empty
(w or h <= 0) are excluded, as in the OTB toolkit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict

import numpy as np

from ..core.boxes import as_boxes, centers, iou

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)


def valid_frames(gt: np.ndarray) -> np.ndarray:
    g = as_boxes(gt)
    return np.all(np.isfinite(g), axis=1) & (g[:, 2] > 0) & (g[:, 3] > 0)


def success_curve(ious: np.ndarray) -> np.ndarray:
    return np.array([(ious > t).mean() if len(ious) else 0.0 for t in SUCCESS_THRESHOLDS])


def precision_curve(errors: np.ndarray) -> np.ndarray:
    return np.array([(errors <= t).mean() if len(errors) else 0.0 for t in PRECISION_THRESHOLDS])


@dataclass
class SequenceScores:
    auc: float
    precision20: float
    center_error: float
    success50: float
    frames: int
    success_curve: list
    precision_curve: list

    def to_dict(self) -> Dict:
        return asdict(self)


def evaluate(pred: np.ndarray, gt: np.ndarray) -> SequenceScores:
    """Scores of predicted boxes against ground truth (both (N, 4) x, y, w, h)."""
    p, g = as_boxes(pred), as_boxes(gt)
    if len(p) != len(g):
        raise ValueError(f"{len(p)} predicted boxes for {len(g)} ground-truth boxes")
    keep = valid_frames(g)
    p, g = p[keep], g[keep]
    p = np.where(np.isfinite(p), p, 0.0)
    ious = iou(p, g)
    errors = np.linalg.norm(centers(p) - centers(g), axis=1)
    sc, pc = success_curve(ious), precision_curve(errors)
    return SequenceScores(
        auc=float(sc.mean()),
        precision20=float(pc[20]),
        center_error=float(errors.mean()) if len(errors) else float("nan"),
        success50=float((ious > 0.5).mean()) if len(ious) else 0.0,
        frames=int(keep.sum()),
        success_curve=sc.tolist(),
        precision_curve=pc.tolist(),
    )
