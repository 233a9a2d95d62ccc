"""A synthetic camera scene made of real photographs, with exact ground truth.

For a demo and tests that need no network and no dataset: scikit-image's wheel ships a
few real photographs (the ``skimage/data`` folder; read with OpenCV, scikit-image itself
is not imported). A cat's face (``chelsea.png``) moves on a smooth path, and changes size,
over a cluttered garage (``motorcycle_left.png``) while a coffee cup (``coffee.png``)
crosses it as a distractor that sometimes passes in front of the target. Every frame
gets sensor noise and a little illumination change. Frames are RGB uint8.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator, Tuple

import cv2
import numpy as np


def photo_dir() -> Path:
    """The photographs of the installed scikit-image wheel (``pip install scikit-image``)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the synthetic scene needs the photographs of scikit-image: "
                                "pip install scikit-image (or pip install 'rl_tracker_ros[demo]')")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _photo(name: str) -> np.ndarray:
    path = photo_dir() / name
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class PhotoScene:
    """``n_frames`` frames of ``size`` (W, H); ``groundtruth`` is (n, 4) x, y, w, h."""

    def __init__(self, n_frames: int = 120, size: Tuple[int, int] = (640, 480), seed: int = 0):
        if n_frames < 1:
            raise ValueError("n_frames must be >= 1")
        self.n_frames, self.size, self.seed = n_frames, size, seed
        w, h = size
        self.background = cv2.resize(_photo("motorcycle_left.png"), (w, h), interpolation=cv2.INTER_AREA)
        cat = _photo("chelsea.png")
        self.target = cat[10:250, 60:340]                 # the face, 280x240
        cup = _photo("coffee.png")
        self.distractor = cup[20:380, 90:470]             # cup and saucer, 380x360
        self.groundtruth = np.array([self._target_box(i) for i in range(n_frames)])
        rng = np.random.default_rng(seed)  # a small bank of sensor-noise images, reused
        self._noise = [rng.normal(0, 4.0, (h, w, 3)).astype(np.float32) for _ in range(7)]

    def _target_box(self, i: int) -> np.ndarray:
        w, h = self.size
        t = i / 30.0  # seconds at 30 Hz
        scale = 1.0 + 0.25 * np.sin(2 * np.pi * t / 5.0)
        bw, bh = 96 * scale, 82 * scale
        cx = w / 2 + 0.32 * w * np.sin(2 * np.pi * t / 6.0)
        cy = h / 2 + 0.25 * h * np.sin(2 * np.pi * t / 4.3 + 0.6)
        return np.array([cx - bw / 2, cy - bh / 2, bw, bh])

    def _distractor_box(self, i: int) -> np.ndarray:
        w, h = self.size
        t = i / 30.0
        cx = w * (0.15 + 0.7 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0 + 2.0)))
        cy = h * 0.55 + 0.15 * h * np.cos(2 * np.pi * t / 3.1)
        return np.array([cx - 45, cy - 43, 90, 86])

    @staticmethod
    def _paste(frame: np.ndarray, patch: np.ndarray, box: np.ndarray) -> None:
        """Paste ``patch`` resized to ``box`` (sub-pixel position) into ``frame``, clipped;
        only the box's own region is warped, so a frame costs a few milliseconds."""
        x, y, bw, bh = box
        H, W = frame.shape[:2]
        x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        x1, y1 = min(int(np.ceil(x + bw)) + 1, W), min(int(np.ceil(y + bh)) + 1, H)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.float32([[bw / patch.shape[1], 0, x - x0], [0, bh / patch.shape[0], y - y0]])
        size = (x1 - x0, y1 - y0)
        warped = cv2.warpAffine(patch, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        mask = cv2.warpAffine(np.ones(patch.shape[:2], np.float32), m, size, flags=cv2.INTER_LINEAR)[..., None]
        region = frame[y0:y1, x0:x1]
        region[:] = (region * (1 - mask) + warped * mask).astype(np.uint8)

    def frame(self, i: int) -> np.ndarray:
        f = self.background.copy()
        self._paste(f, self.target, self.groundtruth[i])
        self._paste(f, self.distractor, self._distractor_box(i))  # in front: partial occlusions
        gain = 1.0 + 0.08 * np.sin(2 * np.pi * i / 45.0)
        noisy = f.astype(np.float32) * gain + self._noise[i % len(self._noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frame(i) for i in range(self.n_frames))
