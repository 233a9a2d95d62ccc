"""Frame sources for offline runs: OTB-layout folders, video files and image globs.

Frames come out as RGB uint8 arrays (the tracker's convention); ground truth as
0-based (x, y, w, h) float arrays.
"""
from __future__ import annotations

import glob as globmod
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)
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


def polygon_to_box(values: np.ndarray) -> np.ndarray:
    """VOT toolkit polygon -> rectangle conversion: the polygon's axis-aligned bounds."""
    xs, ys = values[..., 0::2], values[..., 1::2]
    x0, y0 = xs.min(axis=-1), ys.min(axis=-1)
    return np.stack([x0, y0, xs.max(axis=-1) - x0, ys.max(axis=-1) - y0], axis=-1)


def parse_vot_lines(text: str) -> np.ndarray:
    """VOT ground truth (0-based): 4 values (x, y, w, h) or 8 (polygon x1, y1, ... x4, y4)
    per line, comma separated; anything else (NaN, empty, a mask line) is excluded."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
        try:
            vals = np.array([float(v) for v in parts], dtype=np.float64)
        except ValueError:
            vals = np.array([])
        if vals.size == 4:
            rows.append(vals)
        elif vals.size >= 6 and vals.size % 2 == 0:
            rows.append(polygon_to_box(vals))
        else:
            rows.append(np.full(4, np.nan))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


#: where a VOT-layout sequence keeps its images, in the order they are looked for
VOT_IMAGE_DIRS = ("color", "img", ".")


def load_vot(folder) -> Sequence:
    """``groundtruth.txt`` with the images in ``color/`` (VOT 2020+), ``img/`` or beside it."""
    folder = Path(folder)
    gt_file = folder / "groundtruth.txt"
    if not gt_file.exists():
        raise ValueError(f"{folder} is not a VOT sequence (no groundtruth.txt)")
    for sub in VOT_IMAGE_DIRS:
        img_dir = folder / sub
        frames = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS) if img_dir.is_dir() else []
        if frames:
            return Sequence(folder.name, frames, parse_vot_lines(gt_file.read_text()))
    raise ValueError(f"{folder} has groundtruth.txt but no images in color/, img/ or beside it")


def is_sequence_folder(folder: Path) -> bool:
    return (folder / "groundtruth_rect.txt").exists() or (folder / "groundtruth.txt").exists()


def load_sequence(folder) -> Sequence:
    """An OTB- or VOT-layout sequence folder."""
    folder = Path(folder)
    if (folder / "groundtruth_rect.txt").exists():
        return load_otb(folder)
    if (folder / "groundtruth.txt").exists():
        return load_vot(folder)
    raise ValueError(f"{folder} is neither an OTB sequence (img/ + groundtruth_rect.txt) "
                     f"nor a VOT sequence (groundtruth.txt + images in color/, img/ or beside it)")


def load_sequences(paths, skipped: Optional[List[Tuple[Path, str]]] = None) -> List[Sequence]:
    """Sequences from dataset roots and/or sequence folders, in the order given (a root's
    sequences sorted by name). A folder named directly must be a sequence or a root; a
    root's sub-folder that is not a sequence is skipped, and every skip is logged with
    its reason and appended to ``skipped`` as (folder, reason)."""
    out: List[Sequence] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise ValueError(f"{p} is not a folder")
        if is_sequence_folder(p):
            out.append(load_sequence(p))  # named directly: a broken sequence is an error
            continue
        found = []
        for c in sorted(p.iterdir()):
            if not c.is_dir():
                continue
            try:
                found.append(load_sequence(c))
            except (ValueError, OSError) as exc:
                log.warning("skipped %s: %s", c, exc)
                if skipped is not None:
                    skipped.append((c, str(exc)))
        if not found:
            raise ValueError(f"{p} is neither a sequence folder nor a dataset root holding OTB/VOT sequences")
        out.extend(found)
    return out


def open_input(spec: str) -> Sequence:
    """An OTB folder, a folder of images, a video file, or an image glob pattern."""
    p = Path(spec)
    if p.is_dir():
        if is_sequence_folder(p) or (p / "img").is_dir():
            return load_sequence(p) if is_sequence_folder(p) else load_otb(p)
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
