"""Which frames a tracker gets and which box it is credited with: offline and in real time.

Offline (OTB one-pass evaluation): every frame is handed over and waited for, and each
frame is scored with its own result.

Real time (after VOT's real-time experiment, without resets), for a camera at ``rate_hz``:

* frame ``i`` arrives at ``i / rate_hz``; the tracker is initialised on frame 0, and the
  initialisation takes time like any other call; a tracker that can warm up
  (``DATTracker.warm_up``) does so on frame 0's shape before that, off the clock, as the
  node does when it builds the tracker (``warm_up`` parameter), before any init box;
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
  busy until the learning ends: the next frame it takes is the newest one by then;
* with ``catch_up_step`` k > 0 the driver catches up after the initialisation as the node
  does (``ros/worker.py``, its ``catch_up_step`` parameter): while more than k frames have
  arrived since the last one taken, it takes the newest of the next k instead of the
  newest of all, k growing to the frames that arrived during the last step plus one (so
  the backlog shrinks every step); then the newest-frame rule above. A caught-up frame's
  result is scored like any other, from when it was ready: late for its own frame, it
  counts only for the frames after it.

A camera link can also lose frames (``drop``, both modes): from frame 1 on, each frame
starts a burst of ``drop_burst`` lost frames with probability ``drop``, drawn from
``drop_seed`` (the same frames for every tracker of a run). A lost frame never reaches a
tracker; it is scored like any other, with the newest result a consumer had (offline: the
result of the last frame the tracker got), and the next frame a tracker takes is told the
intervals since the last one it took, lost ones included (the node knows them from the
images' stamps, ``media/frame_period.py``; the demo's ``--drop`` loses the same frames live).

Durations come from the caller (measured with an injectable clock, see ``harness.py``),
each multiplied by ``slowdown`` to estimate a slower computer. Each schedule is one
tracker's own clock, so trackers can run interleaved in one process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..media.catch_up import CatchUp

_EPS = 1e-9  # float tolerance on times, in seconds


class FrameLoss:
    """Which camera frames a lossy link drops: frame ``i`` (``i >= 1``) starts a burst of
    ``burst`` lost frames with probability ``p``. Frames are drawn in order and remembered,
    so asking about frame ``i`` twice gives the same answer."""

    def __init__(self, p: float, burst: int, seed: int):
        self.p, self.burst = float(p), int(burst)
        self._rng = np.random.default_rng(seed)
        self._lost: List[bool] = [False]   # frame 0 (the init frame) always arrives
        self._left = 0                     # lost frames still to come in the current burst

    def lost(self, i: int) -> bool:
        while len(self._lost) <= i:
            if self._left == 0 and self.p > 0 and self._rng.random() < self.p:
                self._left = self.burst
            self._lost.append(self._left > 0)
            self._left = max(self._left - 1, 0)
        return self._lost[i]

    def count(self, n: int) -> int:
        """Lost frames among the first ``n``."""
        return sum(self.lost(i) for i in range(n))


@dataclass(frozen=True)
class Mode:
    """How a run hands out frames: offline, or a camera at ``rate_hz`` (real time)."""

    rate_hz: Optional[float] = None   # None: offline
    slowdown: float = 1.0             # real time: measured durations are multiplied by this
    drop: float = 0.0                 # probability that a frame starts a burst of lost frames
    drop_burst: int = 1               # frames lost in each burst
    drop_seed: int = 0                # which frames are lost (the same for every tracker)
    catch_up_step: int = 0            # real time: catch up after the initialisation, k frames a step (0: off)

    def __post_init__(self) -> None:
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"--realtime needs a positive camera rate in Hz, got {self.rate_hz!r}")
        if not (math.isfinite(self.slowdown) and self.slowdown > 0):
            raise ValueError(f"--slowdown needs a positive factor, got {self.slowdown!r}")
        if self.rate_hz is None and self.slowdown != 1.0:
            raise ValueError("--slowdown only applies to real-time runs (--realtime HZ)")
        if not (math.isfinite(self.drop) and 0.0 <= self.drop < 1.0):
            raise ValueError(f"--drop needs a probability in [0, 1), got {self.drop!r}")
        if isinstance(self.drop_burst, bool) or not isinstance(self.drop_burst, int) or self.drop_burst < 1:
            raise ValueError(f"--drop-burst needs a whole number of frames >= 1, got {self.drop_burst!r}")
        if isinstance(self.catch_up_step, bool) or not isinstance(self.catch_up_step, int) or self.catch_up_step < 0:
            raise ValueError(f"--catch-up needs a whole number of frames >= 0, got {self.catch_up_step!r}")
        if self.catch_up_step and self.rate_hz is None:
            raise ValueError("--catch-up only applies to real-time runs (--realtime HZ)")

    @property
    def realtime(self) -> bool:
        return self.rate_hz is not None

    @property
    def _drop_text(self) -> str:
        if self.drop == 0:
            return ""
        return f"drop{self.drop:g}" + ("" if self.drop_burst == 1 else f"x{self.drop_burst}") + \
            ("" if self.drop_seed == 0 else f"s{self.drop_seed}")

    @property
    def suffix(self) -> str:
        """Appended to a tracker's results folder: '' offline, '@30hz' or '@30hz-x2' in real
        time, '-cu1' with catch-up; with lost frames '-drop0.1' (or '-drop0.1x5s2': bursts of
        5, drop seed 2)."""
        drop = self._drop_text
        if not self.realtime:
            return f"@{drop}" if drop else ""
        return f"@{self.rate_hz:g}hz" + ("" if self.slowdown == 1.0 else f"-x{self.slowdown:g}") + \
            ("" if not self.catch_up_step else f"-cu{self.catch_up_step}") + (f"-{drop}" if drop else "")

    @property
    def label(self) -> str:
        return mode_label(self.to_dict())

    def to_dict(self) -> dict:
        out = {"kind": "realtime" if self.realtime else "offline", "rate_hz": self.rate_hz,
               "slowdown": self.slowdown}
        if self.catch_up_step:
            out.update(catch_up_step=self.catch_up_step)
        if self.drop:
            out.update(drop=self.drop, drop_burst=self.drop_burst, drop_seed=self.drop_seed)
        return out

    def loss(self) -> Optional[FrameLoss]:
        return FrameLoss(self.drop, self.drop_burst, self.drop_seed) if self.drop else None

    def schedule(self, init_box: np.ndarray) -> "Schedule":
        if self.realtime:
            return RealtimeSchedule(self.rate_hz, self.slowdown, init_box, self.loss(), self.catch_up_step)
        return OfflineSchedule(init_box, self.loss())


def mode_label(mode: Dict) -> str:
    """'offline', '30 Hz', '30 Hz x2', '30 Hz, catch-up 1', with ', drop 0.1' (', drop 0.1 in bursts of 5')
    for a lossy link; ``mode`` as :meth:`Mode.to_dict` writes it."""
    if mode.get("kind") != "realtime":
        text = "offline"
    else:
        slow = mode.get("slowdown", 1.0)
        text = f"{mode['rate_hz']:g} Hz" + ("" if slow == 1.0 else f" x{slow:g}")
        if mode.get("catch_up_step"):
            text += f", catch-up {mode['catch_up_step']}"
    if mode.get("drop"):
        burst = mode.get("drop_burst", 1)
        text += f", drop {mode['drop']:g}" + ("" if burst == 1 else f" in bursts of {burst}")
        if mode.get("drop_seed"):
            text += f" (seed {mode['drop_seed']})"
    return text


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
    ``boxes(n)`` the box credited to each of ``n`` frames. ``loss``: the frames the camera
    link drops (none when None)."""

    def __init__(self, init_box: np.ndarray, loss: Optional[FrameLoss] = None):
        self.init_box = np.asarray(init_box, dtype=np.float64)
        self.loss = loss
        self.last = 0                 # the newest frame taken (0: the init frame)
        self.processed = 1            # frames handed to the tracker, the init frame included
        self.elapsed: List[int] = []  # per track call

    def lost(self, i: int) -> bool:
        return self.loss is not None and self.loss.lost(i)

    def lost_count(self, n: int) -> int:
        """Frames the link lost among the first ``n``."""
        return self.loss.count(n) if self.loss is not None else 0

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
        """Frames handed to the tracker, skipped while it was busy, and lost on the link."""
        lost = self.lost_count(n)
        return {"frames_processed": self.processed, "frames_skipped": n - self.processed - lost,
                "frames_lost": lost}


class OfflineSchedule(Schedule):
    """Every frame that arrives, waited for; each frame scored with the result of the
    newest frame taken (its own, unless the link lost it)."""

    def __init__(self, init_box: np.ndarray, loss: Optional[FrameLoss] = None):
        super().__init__(init_box, loss)
        self.taken: List[int] = [0]
        self.results: List[np.ndarray] = [self.init_box]

    def start(self, seconds: float) -> None:
        pass

    def elapsed_for(self, i: int) -> Optional[int]:
        if i <= self.last or self.lost(i) or any(not self.lost(j) for j in range(self.last + 1, i)):
            return None
        return i - self.last

    def done(self, i: int, seconds: float, box: np.ndarray, result_seconds: Optional[float] = None) -> None:
        self.results.append(np.asarray(box, dtype=np.float64))
        self.taken.append(i)
        self.elapsed.append(i - self.last)
        self.last = i
        self.processed += 1

    def boxes(self, n: int) -> np.ndarray:
        expected = n - self.lost_count(n)
        if len(self.results) != expected:
            raise RuntimeError(f"offline run holds {len(self.results)} results for {expected} frames that arrived")
        idx = np.searchsorted(np.asarray(self.taken), np.arange(n), side="right") - 1
        return np.array(self.results).reshape(-1, 4)[idx]


class RealtimeSchedule(Schedule):
    """The real-time protocol above, on a clock of its own that starts at frame 0's arrival."""

    def __init__(self, rate_hz: float, slowdown: float, init_box: np.ndarray, loss: Optional[FrameLoss] = None,
                 catch_up_step: int = 0):
        super().__init__(init_box, loss)
        self.rate, self.slowdown = float(rate_hz), float(slowdown)
        self.free_at = self.init_done = 0.0
        self.result_times: List[float] = []
        self.result_boxes: List[np.ndarray] = []
        self._catch_up = CatchUp(catch_up_step)
        self._catch_up_frame: Optional[int] = None  # the frame the catch-up takes next
        self.caught_up = 0                         # frames taken by the catch-up

    def arrival(self, i: int) -> float:
        return i / self.rate

    def _newest(self) -> int:
        return int(math.floor(self.free_at * self.rate + _EPS))

    def start(self, seconds: float) -> None:
        self.free_at = self.init_done = seconds * self.slowdown
        self._plan_catch_up()

    def _plan_catch_up(self) -> None:
        """The next frame the catch-up takes (None: caught up), by the node's rule
        (``media/catch_up.py``) over the frames waiting, lost ones left out."""
        self._catch_up_frame = None
        if self._catch_up.active:
            waiting = [j for j in range(self.last + 1, self._newest() + 1) if not self.lost(j)]
            self._catch_up_frame = self._catch_up.next(self.last, waiting)

    def elapsed_for(self, i: int) -> Optional[int]:
        if i <= self.last or self.lost(i):
            return None
        if self._catch_up_frame is not None:
            return i - self.last if i == self._catch_up_frame else None
        # The newest frame that has arrived (and was not lost) when the tracker is free, or
        # the next one to come.
        newest = self._newest()
        if any(not self.lost(j) for j in range(i + 1, newest + 1)):
            return None
        return i - self.last

    def done(self, i: int, seconds: float, box: np.ndarray, result_seconds: Optional[float] = None) -> None:
        begin = max(self.free_at, self.arrival(i))
        at = seconds if result_seconds is None else min(result_seconds, seconds)
        self.free_at = begin + seconds * self.slowdown
        self.result_times.append(begin + at * self.slowdown)
        self.result_boxes.append(np.asarray(box, dtype=np.float64))
        self.elapsed.append(i - self.last)
        self.caught_up += self._catch_up_frame is not None
        self.last = i
        self.processed += 1
        self._plan_catch_up()

    def boxes(self, n: int) -> np.ndarray:
        deadlines = [self.arrival(i + 1) for i in range(n)]
        return newest_before(self.result_times, self.result_boxes, deadlines, self.init_box)

    def counts(self, n: int) -> dict:
        """Processed, skipped and lost frames, when the initialisation ended (camera time)
        and the first frame credited with a tracked result (None: none within the sequence)."""
        out = super().counts(n)
        first = None
        if self.result_times:
            first = int(math.ceil(self.result_times[0] * self.rate - _EPS)) - 1
            first = max(first, 1) if first < n else None
        out.update(init_done_s=round(self.init_done, 6), first_result_frame=first, frames_caught_up=self.caught_up)
        return out
