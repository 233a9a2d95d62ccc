"""Frame sources for offline runs: OTB-layout folders, video files and image globs.

Frames come out as RGB uint8 arrays (the tracker's convention); ground truth as
0-based (x, y, w, h) float arrays.
"""
from __future__ import annotations

import glob as globmod
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import cv2
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def parse_box_lines(text: str) -> np.ndarray:
    """OTB ground truth: one box per line, comma / tab / space separated, CRLF tolerated,
    1-based; returned 0-based. Lines that do not parse become NaN (excluded frames)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        try:
            vals = [float(v) for v in parts[:4]]
        except ValueError:
            vals = []
        rows.append(vals if len(vals) == 4 else [np.nan] * 4)
    boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    boxes[:, :2] -= 1.0
    return boxes


def read_rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class Sequence:
    """A named list of frames with optional ground truth."""

    name: str
    frames: List[Path]
    groundtruth: Optional[np.ndarray] = None
    video: Optional[Path] = None

    def __len__(self) -> int:
        return len(self.frames) if self.video is None else int(self._video_len())

    def _video_len(self) -> int:
        cap = cv2.VideoCapture(str(self.video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        return n

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.video is None:
            for f in self.frames:
                yield read_rgb(f)
            return
        cap = cv2.VideoCapture(str(self.video))
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def load_otb(folder) -> Sequence:
    folder = Path(folder)
    gt_file = folder / "groundtruth_rect.txt"
    img_dir = folder / "img"
    if not img_dir.is_dir():
        raise ValueError(f"{folder} is not an OTB sequence (no img/ folder)")
    frames = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not frames:
        raise ValueError(f"{img_dir} holds no images")
    gt = parse_box_lines(gt_file.read_text()) if gt_file.exists() else None
    return Sequence(folder.name, frames, gt)


def open_input(spec: str) -> Sequence:
    """An OTB folder, a folder of images, a video file, or an image glob pattern."""
    p = Path(spec)
    if p.is_dir():
        if (p / "img").is_dir():
            return load_otb(p)
        frames = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        if not frames:
            raise ValueError(f"{p} holds neither img/ nor images")
        return Sequence(p.name, frames)
    if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
        return Sequence(p.stem, [], video=p)
    matches = sorted(Path(m) for m in globmod.glob(spec))
    frames = [m for m in matches if m.suffix.lower() in IMAGE_EXTS]
    if frames:
        return Sequence(Path(spec).parent.name or "frames", frames)
    raise ValueError(f"input {spec!r} is not an OTB folder, image folder, video file or image glob")
