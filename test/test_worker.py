"""The frame buffer and the tracking thread, without ROS."""
import threading
import time

import numpy as np
import pytest

from rl_tracker_ros.core.tracker import TrackResult, TrackState
from rl_tracker_ros.ros.frame_buffer import Frame, FrameBuffer
from rl_tracker_ros.ros.worker import TrackingWorker


def frame(stamp_ns: int, shape=(20, 30, 3)) -> Frame:
    return Frame(np.zeros(shape, np.uint8), header=None, stamp_ns=stamp_ns, arrival=time.monotonic())


def test_buffer_finds_the_nearest_stamp_within_tolerance():
    ms = 1_000_000
    buf = FrameBuffer(3)
    with pytest.raises(LookupError, match="no image"):
        buf.nearest(0, 10 * ms)
    for t in (100, 200, 300, 400):
        buf.push(frame(t * ms))
    assert len(buf) == 3 and buf.newest().stamp_ns == 400 * ms and buf.newest().index == 3
    assert buf.nearest(290 * ms, 20 * ms).stamp_ns == 300 * ms
    with pytest.raises(LookupError, match=r"holds 0\.200 \.\. 0\.400 s"):  # 100 ms was pushed out
        buf.nearest(100 * ms, 20 * ms)


class FakeTracker:
    """Records calls; ``track`` takes ``delay`` seconds, like a slow CPU tracker."""

    def __init__(self, delay=0.0, fail_init=None, fail_track=None):
        self.delay, self.fail_init, self.fail_track = delay, fail_init, fail_track
        self.tracked, self.resets, self.elapsed = [], 0, []

    def initialize(self, image, box):
        if self.fail_init:
            raise self.fail_init
        return TrackResult(np.asarray(box, float), 1.0, TrackState.TRACKING, 0, 0.0)

    def track(self, image, attention=None, elapsed=1.0):
        self.elapsed.append(elapsed)
        time.sleep(self.delay)
        if self.fail_track:
            raise self.fail_track
        self.tracked.append(int(image[0, 0, 0]))
        return TrackResult(np.array([1.0, 2, 3, 4]), 0.5, TrackState.TRACKING, len(self.tracked), self.delay)

    def reset(self):
        self.resets += 1


def wait_until(predicate, timeout=5.0):
    """Poll ``predicate`` until it holds; fail if it still does not after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.005)
    assert predicate()


class Harness:
    def __init__(self, tracker, **worker_options):
        self.tracker, self.outputs, self.errors = tracker, [], []
        self.worker = TrackingWorker(lambda: tracker, self._out, lambda text, exc=None: self.errors.append(text),
                                     **worker_options)
        self.worker.start()

    def _out(self, out):
        self.outputs.append(out)
        self.listen(out)

    def listen(self, out):
        """Called with every output as it is published (a test may replace it)."""

    def wait(self, predicate, timeout=5.0):
        wait_until(predicate, timeout)


def numbered(i: int, shape=(20, 30, 3)) -> Frame:
    f = frame(i * 1000, shape)
    f.image[0, 0, 0] = i
    f.index = i
    return f


def test_newest_frame_wins_and_drops_are_counted():
    h = Harness(FakeTracker(delay=0.05))
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    for i in range(1, 41):
        h.worker.submit(numbered(i))
        time.sleep(0.005)
    h.wait(lambda: h.tracker.tracked and h.tracker.tracked[-1] == 40)
    h.worker.stop()
    assert len(h.tracker.tracked) < 20 and h.tracker.tracked == sorted(h.tracker.tracked)
    assert h.worker.dropped == 40 - len(h.tracker.tracked)
    assert h.outputs[-1].dropped == h.worker.dropped and h.outputs[-1].processing_rate > 0
    # Motion-aware search: each track call is told how many frame intervals passed.
    gaps = np.diff([0] + h.tracker.tracked).tolist()
    assert h.tracker.elapsed == gaps and max(gaps) > 1


@pytest.mark.parametrize("stamped", [True, False])
def test_frames_lost_on_the_link_count_as_intervals_when_the_stamps_say_so(stamped):
    """A lossy link: frames 5-7 and 12-13 never arrive. With the camera's stamps the tracker
    is told the intervals that passed (4 and 3); with unset stamps, only the arrivals."""
    h = Harness(FakeTracker())
    ms = 1_000_000
    arrived = [i for i in range(16) if i not in (5, 6, 7, 12, 13)]
    for n, i in enumerate(arrived):
        f = frame(int(i * 33.3 * ms) + 1 if stamped else 0)
        f.image[0, 0, 0], f.index = i, n  # the node numbers arrivals, not camera frames
        h.worker.submit(f)
        if i == 0:
            h.worker.initialize(f, [1, 2, 3, 4])
            h.wait(lambda: h.worker.state == TrackState.TRACKING)
        else:
            h.wait(lambda: h.tracker.tracked[-1:] == [i])
    h.worker.stop()
    told = dict(zip(h.tracker.tracked, h.tracker.elapsed))
    assert h.tracker.tracked == arrived[1:]
    assert (told[8], told[14]) == ((4, 3) if stamped else (1, 1))
    assert all(told[i] == 1 for i in arrived[1:] if i not in (8, 14))


def test_idle_frames_are_passed_through_as_idle():
    h = Harness(FakeTracker())
    h.worker.submit(numbered(0))
    h.wait(lambda: h.outputs)
    h.worker.stop()
    assert h.outputs[0].state == TrackState.IDLE and h.outputs[0].result is None and h.worker.dropped == 0


def test_init_failure_and_track_failure_keep_the_worker_alive():
    tracker = FakeTracker(fail_init=MemoryError("CUDA out of memory"))
    h = Harness(tracker)
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.errors)
    assert "initialisation failed" in h.errors[0] and h.worker.state == TrackState.IDLE
    tracker.fail_init, tracker.fail_track = None, RuntimeError("CUDA out of memory")
    h.worker.initialize(numbered(1), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    h.worker.submit(numbered(2))
    h.wait(lambda: len(h.errors) == 2)
    assert "tracking frame 2 failed" in h.errors[1] and h.worker.state == TrackState.TRACKING
    tracker.fail_track = None
    h.worker.submit(numbered(3))
    h.wait(lambda: tracker.tracked == [3])
    h.worker.stop()


def test_a_frame_of_another_size_stops_tracking():
    h = Harness(FakeTracker())
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    h.worker.submit(numbered(1, shape=(40, 30, 3)))
    h.wait(lambda: h.errors)
    h.worker.stop()
    assert "image size changed from 30x20 to 30x40" in h.errors[0]
    assert h.worker.state == TrackState.IDLE and h.tracker.resets == 1


def test_frames_older_than_the_init_frame_are_not_tracked():
    h = Harness(FakeTracker(delay=0.0))
    h.worker.submit(numbered(3))
    h.worker.initialize(numbered(5), [1, 2, 3, 4])  # the command goes first; frame 3 is stale
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    h.worker.submit(numbered(6))
    h.wait(lambda: h.tracker.tracked == [6])
    h.worker.stop()


def test_buffer_lists_the_frames_after_an_index_oldest_first():
    buf = FrameBuffer(4)
    for i in range(6):
        buf.push(frame(i))
    assert [f.index for f in buf.after(3)] == [4, 5]
    assert [f.index for f in buf.after(-1)] == [2, 3, 4, 5]  # 0 and 1 were pushed out
    assert buf.after(5) == []


def buffered(n: int) -> FrameBuffer:
    buf = FrameBuffer(100)
    for i in range(n):
        buf.push(numbered(i))
    return buf


def test_after_init_the_worker_catches_up_through_the_backlog_in_strides():
    buf = buffered(21)  # frames 1..20 arrived while frame 0's training ran
    h = Harness(FakeTracker(), history=buf.after, catch_up_step=3)
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: len(h.tracker.tracked) == 6)
    time.sleep(0.05)
    # Every third frame, until the newest (20) is at most one stride away ...
    assert h.tracker.tracked == [3, 6, 9, 12, 15, 18] and h.tracker.elapsed == [3] * 6
    assert [o.frame.index for o in h.outputs] == [0, 3, 6, 9, 12, 15, 18]
    # A frame submitted before the catch-up overtook it is not tracked again ...
    h.worker.submit(numbered(17))
    time.sleep(0.05)
    assert h.tracker.tracked[-1] == 18 and h.errors == []
    # ... the newest is, by the newest-frame loop.
    h.worker.submit(numbered(20))
    h.wait(lambda: h.tracker.tracked[-1:] == [20])
    assert h.tracker.elapsed[-1] == 2
    h.worker.stop()


def test_catch_up_strides_grow_when_the_camera_outruns_the_tracker():
    # Three new frames arrive during every tracked one: at stride 3 the backlog would
    # never shrink, so the stride grows to 3 + 1 and the worker still reaches the newest.
    arrived = [20]  # frames 1..20 arrived during training

    def history(index):
        newest = arrived[0]
        arrived[0] += 3
        return [numbered(i) for i in range(index + 1, newest + 1)]

    h = Harness(FakeTracker(), history=history, catch_up_step=3)
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    time.sleep(0.1)
    assert h.tracker.elapsed[:2] == [3, 4] and set(h.tracker.elapsed[1:]) == {4}
    assert len(h.tracker.tracked) < 20  # it finished, and did not track every frame
    assert arrived[0] - 3 - h.tracker.tracked[-1] <= 4  # the newest was within a stride
    h.worker.stop()


def test_catch_up_step_zero_jumps_to_the_newest_frame():
    buf = buffered(21)
    h = Harness(FakeTracker(), history=buf.after, catch_up_step=0)
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    time.sleep(0.05)
    assert h.tracker.tracked == []
    h.worker.submit(numbered(20))
    h.wait(lambda: h.tracker.tracked == [20])
    assert h.tracker.elapsed == [20]
    h.worker.stop()


def test_prepare_builds_the_tracker_before_the_first_init_box_and_never_while_tracking():
    builds = []
    tracker = FakeTracker()
    worker = TrackingWorker(lambda: builds.append(1) or tracker, lambda out: None, lambda text, exc=None: None)
    worker.start()
    try:
        worker.prepare()
        wait_until(lambda: builds)
        assert builds == [1]
        worker.initialize(numbered(0), [1, 2, 3, 4])
        wait_until(lambda: worker.state == TrackState.TRACKING)
        assert builds == [1]  # the init used the prepared one
        worker.reconfigure(lambda: builds.append(2) or tracker)
        worker.prepare()  # while tracking: the running target keeps its tracker
        time.sleep(0.1)
        assert builds == [1]
    finally:
        worker.stop()


def test_settings_changed_while_a_build_runs_are_the_ones_the_next_init_uses():
    """A parameter call arriving while the worker builds the tracker of the previous one
    (the hostile campaign's seed + 2 did this: score_threshold 1.0, then the restore) must
    not be lost: the next init box gets a tracker built from the newest settings."""
    building, release = threading.Event(), threading.Event()
    old, new = FakeTracker(), FakeTracker()

    def slow_old():
        building.set()
        release.wait(5)
        return old

    worker = TrackingWorker(slow_old, lambda out: None, lambda text, exc=None: None)
    worker.start()
    try:
        worker.prepare()
        assert building.wait(5)
        worker.reconfigure(lambda: new)  # the restore, while the old settings' build runs
        release.set()
        worker.initialize(numbered(0), [1, 2, 3, 4])
        wait_until(lambda: worker.state == TrackState.TRACKING)
        worker.submit(numbered(1))
        wait_until(lambda: old.tracked or new.tracked)
        assert new.tracked == [1] and old.tracked == []
    finally:
        worker.stop()


class LearningTracker(FakeTracker):
    """Returns its box before learning (``learn=False``) and logs what happens in which order."""

    def __init__(self, fail_learn=None):
        super().__init__()
        self.log, self.fail_learn = [], fail_learn

    def track(self, image, attention=None, elapsed=1.0, learn=True):
        self.log.append(("track", int(image[0, 0, 0]), learn))
        return super().track(image, attention, elapsed)

    def learn(self):
        self.log.append(("learn",))
        if self.fail_learn:
            raise self.fail_learn
        return {"update": 0.0}


def test_the_box_is_published_before_the_tracker_learns_from_its_frame():
    tracker = LearningTracker()
    h = Harness(tracker)
    h.listen = lambda out: tracker.log.append(("published", out.frame.index))
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    h.worker.submit(numbered(1))
    h.wait(lambda: ("learn",) in tracker.log)
    h.worker.stop()
    frame1 = [e for e in tracker.log if e[0] != "published" or e[1] == 1]
    assert frame1 == [("track", 1, False), ("published", 1), ("learn",)]


def test_a_failed_learning_step_is_reported_and_tracking_goes_on():
    tracker = LearningTracker(fail_learn=RuntimeError("CUDA out of memory"))
    h = Harness(tracker)
    h.worker.initialize(numbered(0), [1, 2, 3, 4])
    h.wait(lambda: h.worker.state == TrackState.TRACKING)
    h.worker.submit(numbered(1))
    h.wait(lambda: h.errors)
    assert "learning from frame 1 failed" in h.errors[0] and "out of memory" in h.errors[0]
    tracker.fail_learn = None
    h.worker.submit(numbered(2))
    h.wait(lambda: tracker.tracked == [1, 2])
    h.worker.stop()
    assert h.worker.state == TrackState.TRACKING and len(h.errors) == 1
