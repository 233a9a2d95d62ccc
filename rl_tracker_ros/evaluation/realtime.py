"""Which frames a tracker gets and which box it is credited with: offline and in real time.

Offline (OTB one-pass evaluation): every frame is handed over and waited for, and each
frame is scored with its own result.

Real time (after VOT's real-time experiment, without resets), for a camera at ``rate_hz``:

* frame ``i`` arrives at ``i / rate_hz``; the tracker is initialised on frame 0, and the
  initialisation takes time like any other call;
* whenever the tracker is free it takes the newest frame that has arrived (a frame
  arriving exactly when it becomes free counts as arrived); the frames that arrived
  while it was busy are skipped, and it is told how many frame intervals passed
  (``elapsed``), as the node tells it;
* frame ``i`` is scored with the newest result available by the time frame ``i + 1``
  arrives, ``(i + 1) / rate_hz``: a result within one frame interval counts for its own
  frame, a later one only from the frames after it; before the first result, the
  initial box;
* a tracker that hands its box on before it learns from the frame (ours: ``track(...,
  learn=False)``, then ``learn()``) has its result available when the box was, and stays
  busy until the learning ends: the next frame it takes is the newest one by then.

Durations come from the caller (measured with an injectable clock, see ``harness.py``),
each multiplied by ``slowdown`` to estimate a slower computer. Each schedule is one
tracker's own clock, so trackers can run interleaved in one process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

_EPS = 1e-9  # float tolerance on times, in seconds


@dataclass(frozen=True)
class Mode:
    """How a run hands out frames: offline, or a camera at ``rate_hz`` (real time)."""

    rate_hz: Optional[float] = None   # None: offline
    slowdown: float = 1.0             # real time: measured durations are multiplied by this

    def __post_init__(self) -> None:
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"--realtime needs a positive camera rate in Hz, got {self.rate_hz!r}")
        if not (math.isfinite(self.slowdown) and self.slowdown > 0):
            raise ValueError(f"--slowdown needs a positive factor, got {self.slowdown!r}")
        if self.rate_hz is None and self.slowdown != 1.0:
            raise ValueError("--slowdown only applies to real-time runs (--realtime HZ)")

    @property
    def realtime(self) -> bool:
        return self.rate_hz is not None

    @property
    def suffix(self) -> str:
        """Appended to a tracker's results folder: '' offline, '@30hz' or '@30hz-x2' in real time."""
        if not self.realtime:
            return ""
        return f"@{self.rate_hz:g}hz" + ("" if self.slowdown == 1.0 else f"-x{self.slowdown:g}")

    @property
    def label(self) -> str:
        if not self.realtime:
            return "offline"
        return f"{self.rate_hz:g} Hz" + ("" if self.slowdown == 1.0 else f" x{self.slowdown:g}")

    def to_dict(self) -> dict:
        return {"kind": "realtime" if self.realtime else "offline", "rate_hz": self.rate_hz,
                "slowdown": self.slowdown}

    def schedule(self, init_box: np.ndarray) -> "Schedule":
        return RealtimeSchedule(self.rate_hz, self.slowdown, init_box) if self.realtime else OfflineSchedule(init_box)


def newest_before(result_times: Sequence[float], result_boxes: Sequence[np.ndarray],
                  deadlines: Sequence[float], initial: np.ndarray) -> np.ndarray:
    """For each deadline, the newest result whose time is at or before it (``initial``
    before the first). Results must be in time order; used by the harness and the node demo."""
    times = np.asarray(result_times, dtype=np.float64)
    if len(times) > 1 and np.any(np.diff(times) < 0):
        raise ValueError("results must be in time order")
    table = np.vstack([np.asarray(initial, np.float64).reshape(1, 4)]
                      + [np.asarray(b, np.float64).reshape(1, 4) for b in result_boxes])
    idx = np.searchsorted(times, np.asarray(deadlines, dtype=np.float64) + _EPS, side="right")
    return table[idx]


class Schedule:
    """One tracker's view of a sequence: ``elapsed_for(i)`` says whether it takes frame
    ``i`` (and how many intervals passed), ``done(i, seconds, box)`` records the call,
    ``boxes(n)`` the box credited to each of ``n`` frames."""

    def __init__(self, init_box: np.ndarray):
        self.init_box = np.asarray(init_box, dtype=np.float64)
        self.last = 0                 # the newest frame taken (0: the init frame)
        self.processed = 1            # frames handed to the tracker, the init frame included
        self.elapsed: List[int] = []  # per track call

    def start(self, seconds: float) -> None:
        raise NotImplementedError

    def elapsed_for(self, i: int) -> Optional[int]:
        raise NotImplementedError

    def done(self, i: int, seconds: float, box: np.ndarray, result_seconds: Optional[float] = None) -> None:
        """Frame ``i`` kept the tracker busy ``seconds``; its ``box`` was handed on after
        ``result_seconds`` of them (default: at the end), the rest was the tracker's learning."""
        raise NotImplementedError

    def boxes(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def counts(self, n: int) -> dict:
        return {"frames_processed": self.processed, "frames_skipped": n - self.processed}


class OfflineSchedule(Schedule):
    """Every frame, waited for; each frame scored with its own result."""

    def __init__(self, init_box: np.ndarray):
        super().__init__(init_box)
        self.results: List[np.ndarray] = [self.init_box]

    def start(self, seconds: float) -> None:
        pass

    def elapsed_for(self, i: int) -> Optional[int]:
        return 1 if i == self.last + 1 else None

    def done(self, i: int, seconds: float, box: np.ndarray, result_seconds: Optional[float] = None) -> None:
        self.results.append(np.asarray(box, dtype=np.float64))
        self.elapsed.append(i - self.last)
        self.last = i
        self.processed += 1

    def boxes(self, n: int) -> np.ndarray:
        if len(self.results) != n:
            raise RuntimeError(f"offline run holds {len(self.results)} results for {n} frames")
        return np.array(self.results).reshape(-1, 4)


class RealtimeSchedule(Schedule):
    """The real-time protocol above, on a clock of its own that starts at frame 0's arrival."""

    def __init__(self, rate_hz: float, slowdown: float, init_box: np.ndarray):
        super().__init__(init_box)
        self.rate, self.slowdown = float(rate_hz), float(slowdown)
        self.free_at = self.init_done = 0.0
        self.result_times: List[float] = []
        self.result_boxes: List[np.ndarray] = []

    def arrival(self, i: int) -> float:
        return i / self.rate

    def start(self, seconds: float) -> None:
        self.free_at = self.init_done = seconds * self.slowdown

    def elapsed_for(self, i: int) -> Optional[int]:
        # The newest frame that has arrived when the tracker is free, or the next one to come.
        newest = int(math.floor(self.free_at * self.rate + _EPS))
        return i - self.last if i == max(self.last + 1, newest) else None

    def done(self, i: int, seconds: float, box: np.ndarray, result_seconds: Optional[float] = None) -> None:
        begin = max(self.free_at, self.arrival(i))
        at = seconds if result_seconds is None else min(result_seconds, seconds)
        self.free_at = begin + seconds * self.slowdown
        self.result_times.append(begin + at * self.slowdown)
        self.result_boxes.append(np.asarray(box, dtype=np.float64))
        self.elapsed.append(i - self.last)
        self.last = i
        self.processed += 1

    def boxes(self, n: int) -> np.ndarray:
        deadlines = [self.arrival(i + 1) for i in range(n)]
        return newest_before(self.result_times, self.result_boxes, deadlines, self.init_box)

    def counts(self, n: int) -> dict:
        """Processed and skipped frames, when the initialisation ended (camera time) and
        the first frame credited with a tracked result (None: none within the sequence)."""
        out = super().counts(n)
        first = None
        if self.result_times:
            first = int(math.ceil(self.result_times[0] * self.rate - _EPS)) - 1
            first = max(first, 1) if first < n else None
        out.update(init_done_s=round(self.init_done, 6), first_result_frame=first)
        return out
