"""The tracking thread: newest frame wins, initialisation never blocks the caller.

Camera callbacks only hand frames over (``submit``); one thread runs the tracker on the
newest frame it has not seen and drops the ones that were overtaken while it was busy,
so the output is never a queue behind the camera (NOTES.md section 6). First-frame
training runs on the same thread, so ROS callbacks, services and parameter changes stay
responsive while it takes seconds on a CPU. After it, the worker catches up through the
frames that arrived meanwhile (see ``_catch_up``). No ROS import: the node wires it to
topics.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from ..core.interface import Tracker
from ..core.tracker import TrackResult, TrackState
from ..media.catch_up import CatchUp
from ..media.frame_period import FramePeriod
from .frame_buffer import Frame


@dataclass
class Output:
    """What the worker hands to the publisher for one frame."""
    frame: Frame
    state: TrackState
    result: Optional[TrackResult]  # None while IDLE
    latency: float                 # s, from the frame's arrival to this output
    processing_rate: float         # Hz, tracked frames per second (moving average)
    dropped: int                   # frames overtaken so far while a target was active


class TrackingWorker:
    """Runs ``make_tracker()``'s tracker on a thread of its own.

    ``on_output`` receives an :class:`Output` for the init frame and every tracked frame
    (and for frames while idle, so consumers see the IDLE state); ``on_error(text, exc)``
    receives one line per problem (bad tracker settings, missing weights, out of memory
    ...) and the exception, when there is one, for its traceback. A frame whose tracking
    raises is counted (``frames_failed``; :meth:`health` over the last ``recent_window``
    frames), publishes nothing, and the state leaves TRACKING: a tracker that fails
    every frame must not look like one that tracks.
    Both are called from the worker thread. ``history(index)`` gives the buffered frames
    that arrived after frame ``index``, oldest first; ``catch_up_step`` is the stride
    through them after an initialisation (0: jump straight to the newest frame).
    """

    def __init__(self, make_tracker: Callable[[], Tracker], on_output: Callable[[Output], None],
                 on_error: Callable[[str, Optional[BaseException]], None], want_attention: Callable[[], bool] = lambda: False,
                 rate_smoothing: float = 0.2,
                 history: Callable[[int], Sequence[Frame]] = lambda index: (), catch_up_step: int = 3,
                 recent_window: int = 10):
        self._make_tracker = make_tracker
        self._history = history
        self._catch_up_step = int(catch_up_step)
        self._on_output = on_output
        self._on_error = on_error
        self._want_attention = want_attention
        self._alpha = rate_smoothing
        self._cond = threading.Condition()
        self._pending: Optional[Frame] = None
        self._command: Optional[tuple] = None
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._tracker = None
        # Settings generations: reconfigure() counts them, the tracker records the one it
        # was built for. A flag would lose a change made while a build runs.
        self._settings = 0
        self._tracker_settings = -1
        self._size: Optional[tuple] = None
        self._last_index = -1
        self._last_stamp_ns = 0
        self._period = FramePeriod()  # the camera's frame interval, from every frame submitted
        self._state = TrackState.IDLE
        self._initialising = False
        self._dropped = 0
        self._rate = 0.0
        self._last_done: Optional[float] = None
        self.frames_failed = 0
        self._recent: deque = deque(maxlen=recent_window)  # True: that tracked frame failed

    # ------------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="rl_tracker_worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, frame: Frame) -> None:
        """Offer the newest camera frame; an unprocessed older one is dropped."""
        self._period.add(frame.stamp_ns)
        with self._cond:
            if self._pending is not None and self.active:
                self._dropped += 1
            self._pending = frame
            self._cond.notify()

    def initialize(self, frame: Frame, box: np.ndarray) -> None:
        """Start tracking ``box`` on ``frame`` (already validated); returns at once."""
        with self._cond:
            self._command = ("init", frame, np.asarray(box, dtype=np.float64))
            self._initialising = True
            self._cond.notify()

    def reset(self) -> None:
        """Forget the target (the state becomes IDLE)."""
        with self._cond:
            self._command = ("reset",)
            self._cond.notify()

    def reconfigure(self, make_tracker: Callable[[], Tracker]) -> None:
        """New tracker settings; they apply from the next initialisation on."""
        with self._cond:
            self._make_tracker = make_tracker
            self._settings += 1

    def build(self, timeout: float = 300.0) -> None:
        """Build the tracker now and wait for it (the node's configure transition: missing
        or corrupt weights raise here, to the caller). It is built on the worker thread,
        the thread that will track with it, as it was before the node became a lifecycle
        node (live runs at 30 Hz here spread too much, 63-77 of 84 frames tracked, to
        tell the two placements apart)."""
        if self._thread is None:
            self.start()
        done = threading.Event()
        outcome: list = []
        with self._cond:
            self._command = ("build", done, outcome)
            self._cond.notify()
        if not done.wait(timeout):
            raise TimeoutError(f"building the tracker took more than {timeout:.0f} s")
        if outcome:
            raise outcome[0]

    def drop_pending(self) -> None:
        """Forget the frame waiting to be tracked, if any (input stopped: it is stale)."""
        with self._cond:
            self._pending = None

    def prepare(self) -> None:
        """Build the tracker (load its weights) now, on the worker thread, unless a target
        is being tracked: the first init box then waits only for training (a build takes
        about 0.2 s on a CPU, six camera frames). A build that fails is logged and tried
        again at the next init box."""
        with self._cond:
            if self._command is None:
                self._command = ("prepare",)
                self._cond.notify()

    @property
    def state(self) -> TrackState:
        return self._state

    @property
    def active(self) -> bool:
        """A target is being tracked or its first-frame training is running."""
        return self._initialising or self._state != TrackState.IDLE

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def processing_rate(self) -> float:
        return self._rate

    def health(self) -> Tuple[str, int, int]:
        """(``ok`` | ``warn`` | ``error``, failed, frames) over the last tracked frames:
        ``error`` when every one of a full window failed, ``warn`` when any did."""
        recent = list(self._recent)
        failed = sum(recent)
        if recent and failed == len(recent) == self._recent.maxlen:
            return "error", failed, len(recent)
        return ("warn" if failed else "ok"), failed, len(recent)

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and self._command is None and self._pending is None:
                    self._cond.wait()
                if not self._running:
                    return
                command, self._command = self._command, None
                frame = None
                if command is None:
                    frame, self._pending = self._pending, None
            try:
                if command is not None:
                    self._run_command(command)
                elif frame is not None:
                    self._process(frame)
            except Exception as exc:  # a bug must not silently end tracking for good
                self._on_error(f"worker error: {describe_error(exc)}", exc)

    def _run_command(self, command: tuple) -> None:
        if command[0] == "build":
            _, done, outcome = command
            try:
                self._current_tracker()
            except Exception as exc:  # the caller (configure) reports it
                outcome.append(exc)
            finally:
                done.set()
            return
        if command[0] == "prepare":
            if self._state == TrackState.IDLE:
                try:
                    self._current_tracker()
                except Exception as exc:  # missing weights and the like: said now, retried at init
                    self._on_error(f"building the tracker failed: {describe_error(exc)}", None if _expected(exc) else exc)
            return
        if command[0] == "reset":
            self._stop_tracking()
            return
        _, frame, box = command
        try:
            result = self._current_tracker().initialize(frame.image, box)
        except Exception as exc:  # bad settings, missing weights, out of memory: stay IDLE
            self._stop_tracking()
            self._on_error(f"initialisation failed: {describe_error(exc)}", None if _expected(exc) else exc)
            return
        finally:
            self._initialising = False
        self._size = frame.image.shape[:2]
        self._last_index, self._last_stamp_ns = frame.index, frame.stamp_ns
        self._recent.clear()  # a new target: its health starts afresh
        self._state = result.state
        self._last_done = None
        self._emit(frame, result)
        self._catch_up()

    def _current_tracker(self):
        """The tracker of the current settings, built now if there is none or they changed.

        Settings that change while a build runs (a parameter call during a prepare) are
        built next: the tracker is only current for the generation it was built from."""
        while True:
            with self._cond:
                if self._tracker is not None and self._tracker_settings == self._settings:
                    return self._tracker
                make, generation = self._make_tracker, self._settings
            self._tracker, self._tracker_settings = None, -1
            tracker = make()
            with self._cond:
                self._tracker, self._tracker_settings = tracker, generation

    def _catch_up(self) -> None:
        """Track the frames that arrived during first-frame training, ``catch_up_step``
        apart, by the rule in ``media/catch_up.py``; the newest-frame loop then takes over.
        Stops at once when a command arrives."""
        rule = CatchUp(self._catch_up_step)
        while self._running and self._command is None and self._state != TrackState.IDLE:
            frames = list(self._history(self._last_index))
            take = rule.next(self._last_index, [f.index for f in frames])
            if take is None:
                return
            self._process(next(f for f in frames if f.index == take))

    def _process(self, frame: Frame) -> None:
        if self._state == TrackState.IDLE or self._tracker is None:
            self._emit(frame, None)
            return
        if frame.index <= self._last_index:
            return  # not newer than the frame tracked last (the init frame, or a catch-up one)
        if frame.image.shape[:2] != self._size:
            (h0, w0), (h1, w1) = self._size, frame.image.shape[:2]
            self._stop_tracking()
            self._on_error(f"image size changed from {w0}x{h0} to {w1}x{h1}: tracking stopped, "
                           "send a new init box")
            self._emit(frame, None)
            return
        # Frame intervals since the last one tracked: the target moved that much more, so
        # the tracker widens its search (motion-aware search). Counted from the frames that
        # arrived, or, where the stamps say more passed (frames lost on the link), from them.
        by_stamp = self._period.intervals(self._last_stamp_ns, frame.stamp_ns)
        elapsed = max(frame.index - self._last_index, by_stamp or 0)
        self._last_index, self._last_stamp_ns = frame.index, frame.stamp_ns
        # A tracker that can (ours) returns the box before it learns from the frame: the
        # box is published first, the learning runs right after (:meth:`_learn`).
        learn = getattr(self._tracker, "learn", None)
        learn = learn if callable(learn) else None
        try:
            result = self._tracker.track(frame.image, attention=self._want_attention(), elapsed=elapsed,
                                         **({"learn": False} if learn else {}))
        except Exception as exc:  # CUDA out of memory (expected): skip this frame, keep the target
            self.frames_failed += 1
            self._recent.append(True)
            oom = _out_of_memory(exc)
            if not oom and self._state == TrackState.TRACKING:
                self._state = TrackState.UNCERTAIN  # no box was found on this frame
            # Out of memory is the one expected failure: the frame is skipped as a dropped
            # one would be (the target and its state are kept) and the cache is freed.
            self._on_error(f"tracking frame {frame.index} failed: {describe_error(exc)}", None if oom else exc)
            if oom:
                free_device_memory()
            return
        self._recent.append(False)
        self._state = result.state
        now = time.monotonic()
        if self._last_done is not None:
            inst = 1.0 / max(now - self._last_done, 1e-6)
            self._rate = inst if self._rate == 0 else (1 - self._alpha) * self._rate + self._alpha * inst
        self._last_done = now
        self._emit(frame, result)
        if learn:
            self._learn(frame, learn)

    def _learn(self, frame: Frame, learn) -> None:
        """The frame's learning, after its box went out. A failure here (out of memory)
        loses that one update, not the target: logged, and the next frame is tracked."""
        try:
            learn()
        except Exception as exc:
            oom = _out_of_memory(exc)
            self._on_error(f"learning from frame {frame.index} failed: {describe_error(exc)}", None if oom else exc)
            if oom:
                free_device_memory()

    def _emit(self, frame: Frame, result: Optional[TrackResult]) -> None:
        state = result.state if result is not None else TrackState.IDLE
        out = Output(frame, state, result, time.monotonic() - frame.arrival, self._rate, self._dropped)
        try:
            self._on_output(out)
        except Exception as exc:  # a publishing problem must not end the thread
            self._on_error(f"publishing failed: {describe_error(exc)}", exc)

    def _stop_tracking(self) -> None:
        if self._tracker is not None:
            self._tracker.reset()
        self._state = TrackState.IDLE
        self._size = None
        self._rate = 0.0
        self._last_done = None


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _out_of_memory(exc: BaseException) -> bool:
    """CUDA (or CPU allocator) out of memory: the one failure a frame may expect."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _expected(exc: BaseException) -> bool:
    """Failures of an initialisation that are the user's to fix, said in one line: bad
    settings, missing or corrupt weights, a box with nothing to learn, out of memory."""
    from ..core.weights import WeightsError

    return isinstance(exc, (ValueError, WeightsError, FileNotFoundError)) or _out_of_memory(exc)


def free_device_memory() -> None:
    """Give the CUDA allocator's cached blocks back: after an out-of-memory error, before
    the next frame, and when the node frees its model (lifecycle cleanup)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
