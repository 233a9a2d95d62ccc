"""Drawing tracker output onto frames (for videos, debug images and the node)."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

STATE_COLOURS = {  # RGB
    "tracking": (0, 220, 0),
    "uncertain": (255, 190, 0),
    "lost": (255, 40, 40),
    "idle": (160, 160, 160),
}


def heat_overlay(frame: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] (H, W) map as a JET colour map over an RGB frame."""
    h8 = np.clip(heat * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(h8, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(heat, 0, 1))[:, :, None]
    return (frame * (1 - weight) + colour * weight).astype(np.uint8)


def draw_result(frame: np.ndarray, box, score: float, state: str,
                attention: Optional[np.ndarray] = None, gt=None) -> np.ndarray:
    """An RGB copy of ``frame`` with the box, its score and state (and ground truth in white)."""
    out = heat_overlay(frame, attention) if attention is not None else frame.copy()
    colour = STATE_COLOURS.get(state, (255, 255, 255))
    if gt is not None and np.all(np.isfinite(gt)):
        x, y, w, h = (int(round(v)) for v in gt)
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 255, 255), 1)
    if box is not None and np.all(np.isfinite(box)):
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
    scale = max(0.4, min(out.shape[:2]) / 600)
    label = f"{state} {score:+.2f}"
    cv2.putText(out, label, (5, int(22 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, (5, int(22 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return out
