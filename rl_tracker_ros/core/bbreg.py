"""Bounding-box regression (R-CNN style), as MDNet/DAT use it: ridge regression from
trunk features of first-frame samples to the offsets of the true box."""
from __future__ import annotations

import numpy as np
import torch

from .boxes import as_boxes


def box_deltas(samples: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Regression targets (dx, dy, dw, dh) from each sample box to ``target``."""
    s, t = as_boxes(samples), as_boxes(target)
    sc, tc = s[:, :2] + s[:, 2:] / 2, t[:, :2] + t[:, 2:] / 2
    return np.concatenate([(tc - sc) / s[:, 2:], np.log(t[:, 2:] / s[:, 2:])], axis=1)


def apply_deltas(samples: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    s = as_boxes(samples)
    sc = s[:, :2] + s[:, 2:] / 2
    centre = sc + deltas[:, :2] * s[:, 2:]
    size = s[:, 2:] * np.exp(deltas[:, 2:])
    return np.concatenate([centre - size / 2, size], axis=1)


class BBoxRegressor:
    """Ridge regression W = (X'X + alpha I)^-1 X'Y on centred features, closed form.

    Solved in the dual (n x n) when there are fewer samples than feature dimensions,
    which is the usual case (1000 samples, 4608 features).
    """

    def __init__(self, alpha: float = 1000.0):
        self.alpha = float(alpha)
        self.weight: torch.Tensor | None = None
        self.x_mean: torch.Tensor | None = None
        self.y_mean: torch.Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.weight is not None

    def fit(self, feats: torch.Tensor, samples: np.ndarray, target: np.ndarray) -> None:
        x = feats.double()
        y = torch.as_tensor(box_deltas(samples, target), dtype=torch.float64, device=x.device)
        self.x_mean, self.y_mean = x.mean(0), y.mean(0)
        xc, yc = x - self.x_mean, y - self.y_mean
        n, d = xc.shape
        if n < d:
            k = xc @ xc.T + self.alpha * torch.eye(n, dtype=x.dtype, device=x.device)
            self.weight = xc.T @ torch.linalg.solve(k, yc)
        else:
            k = xc.T @ xc + self.alpha * torch.eye(d, dtype=x.dtype, device=x.device)
            self.weight = torch.linalg.solve(k, xc.T @ yc)

    def predict(self, feats: torch.Tensor, samples: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("BBoxRegressor.predict before fit")
        d = (feats.double() - self.x_mean) @ self.weight + self.y_mean
        return apply_deltas(samples, d.cpu().numpy())
