"""Run a tracker over a recorded sequence: the offline driver behind ``rl-tracker run``."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import cv2
import numpy as np
from tqdm import tqdm

from ..core.interface import Tracker
from ..core.tracker import TrackResult
from ..media.sequences import Sequence
from ..media.drawing import draw_result


@dataclass
class RunOutput:
    boxes: np.ndarray                    # (N, 4) one per frame, frame 0 = init box
    scores: np.ndarray
    states: List[str]
    init_time_s: float
    frame_times_s: np.ndarray            # tracker time of frames 1..N-1

    @property
    def fps(self) -> float:
        t = self.frame_times_s.sum()
        return float(len(self.frame_times_s) / t) if t > 0 else float("nan")


class VideoSink:
    """Annotated output: an .mp4/.avi file, or a folder of numbered PNG frames."""

    def __init__(self, path: Path, fps: float = 30.0):
        self.path = Path(path)
        self.fps = fps
        self.writer = None
        self.index = 0
        if self.path.suffix.lower() not in (".mp4", ".avi", ".mkv"):
            self.path.mkdir(parents=True, exist_ok=True)

    def write(self, rgb: np.ndarray) -> None:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self.path.suffix.lower() in (".mp4", ".avi", ".mkv"):
            if self.writer is None:
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (bgr.shape[1], bgr.shape[0]))
                if not self.writer.isOpened():
                    raise IOError(f"cannot open video writer for {self.path}")
            self.writer.write(bgr)
        else:
            cv2.imwrite(str(self.path / f"{self.index:05d}.png"), bgr)
        self.index += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def run_sequence(tracker: Tracker, seq: Sequence, init_box, max_frames: Optional[int] = None,
                 video: Optional[Path] = None, attention: bool = False, progress: bool = True,
                 on_result: Optional[Callable[[int, TrackResult], None]] = None) -> RunOutput:
    """Initialise on frame 0 with ``init_box`` and track the rest; frame decoding is
    not counted in the tracker times."""
    total = min(len(seq), max_frames) if max_frames else len(seq)
    sink = VideoSink(video) if video else None
    boxes, scores, states, times = [], [], [], []
    init_time = float("nan")
    bar = tqdm(total=total, desc=seq.name, unit="frame", disable=not progress)
    try:
        for i, frame in enumerate(seq):
            if i >= total:
                break
            t = time.perf_counter()
            res = tracker.initialize(frame, init_box) if i == 0 else tracker.track(frame, attention=attention)
            elapsed = time.perf_counter() - t
            if i == 0:
                init_time = elapsed
            else:
                times.append(elapsed)
            boxes.append(res.box)
            scores.append(res.score)
            states.append(res.state.value)
            if on_result:
                on_result(i, res)
            if sink:
                gt = seq.groundtruth[i] if seq.groundtruth is not None and i < len(seq.groundtruth) else None
                sink.write(draw_result(frame, res.box, res.score, res.state.value, res.attention, gt))
            bar.update(1)
            if times:
                bar.set_postfix(fps=f"{1.0 / times[-1]:.2f}", state=res.state.value)
    finally:
        bar.close()
        if sink:
            sink.close()
    return RunOutput(np.array(boxes).reshape(-1, 4), np.array(scores), states, init_time, np.array(times))


def write_boxes(path: Path, boxes: np.ndarray, one_based: bool = False) -> None:
    """One ``x,y,w,h`` line per frame (0-based unless ``one_based``, as OTB files are)."""
    b = np.array(boxes, dtype=np.float64).copy()
    if one_based:
        b[:, :2] += 1
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, b, fmt="%.2f", delimiter=",")
