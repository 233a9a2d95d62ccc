"""The real-time protocol, replayed on hand-computed schedules with a fake tracker and a
fake clock (no sleeping): which frames are taken, with which ``elapsed``, and which box
each frame is credited with."""
import json

import cv2
import numpy as np
import pytest

from rl_tracker_ros.evaluation.harness import run_evaluation, track_sequence
from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.evaluation.realtime import FrameLoss, Mode, newest_before
from rl_tracker_ros.core.tracker import TrackResult, TrackState
from rl_tracker_ros.evaluation.trackers import TrackerSpec
from rl_tracker_ros.media.sequences import Sequence, load_sequences


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Scripted:
    """Takes ``durations[0]`` s to initialise and ``durations[k]`` s for its k-th update;
    reports box (v, 0, 10, 10) for a frame filled with value v, and logs its calls."""

    def __init__(self, name, clock, durations):
        self.name, self.clock, self.durations = name, clock, list(durations)
        self.calls = []  # (frame value, elapsed)

    def initialize(self, frame, box):
        self.clock.now += self.durations.pop(0)
        return TrackResult(np.asarray(box, float), 0.0, TrackState.TRACKING, 0, 0.0)

    def track(self, frame, *, attention=None, elapsed=1):
        self.calls.append((int(frame[0, 0, 0]), elapsed))
        self.clock.now += self.durations.pop(0)
        box = np.array([frame[0, 0, 0], 0, 10, 10], dtype=np.float64)
        return TrackResult(box, 1.0, TrackState.TRACKING, len(self.calls), 0.0)


class Frames(Sequence):
    """An in-memory sequence: frame i is filled with the value i."""

    def __init__(self, n, gt=None):
        super().__init__("fake", [])
        self.n = n
        self.groundtruth = gt if gt is not None else np.tile([0.0, 0, 10, 10], (n, 1))

    def __len__(self):
        return self.n

    def __iter__(self):
        for i in range(self.n):
            yield np.full((4, 4, 3), i, np.uint8)


def _run(n, durations, mode, name="scripted"):
    clock = FakeClock()
    trackers = {}

    def factory(spec, trunks):
        trackers[spec.name] = Scripted(spec.name, clock, durations)
        return trackers[spec.name]

    out = track_sequence(Frames(n), [TrackerSpec("csrt")], mode, {}, clock=clock, tracker_factory=factory)
    (result,) = out.values()
    return result, trackers["csrt"]


def test_hand_computed_schedule_at_10_hz():
    # Camera at 10 Hz: frame i arrives at i / 10 s. Durations: init 0.25 s, then six updates.
    #  free 0.25 -> newest frame 2 (elapsed 2), done 0.30
    #  free 0.30 -> frame 3 just arrived (elapsed 1), done 0.45
    #  free 0.45 -> frame 4 (elapsed 1), done 0.47
    #  free 0.47 -> nothing new: waits for frame 5 at 0.50, done 0.60 (exactly one interval)
    #  free 0.60 -> frame 6, done 0.91
    #  free 0.91 -> newest frame 9 (elapsed 3), done 0.92
    res, tr = _run(10, [0.25, 0.05, 0.15, 0.02, 0.10, 0.31, 0.01], Mode(10.0))
    assert tr.calls == [(2, 2), (3, 1), (4, 1), (5, 1), (6, 1), (9, 3)]
    # Frame i is credited with the newest result available at (i + 1) / 10 s.
    credited = [b[0] for b in res["boxes"]]
    init = 0.0  # the init box's x
    assert credited == [init, init, 2, 2, 4, 5, 5, 5, 5, 9]
    s = res["scores"]
    assert (s["frames_processed"], s["frames_skipped"]) == (7, 3)
    assert s["first_result_frame"] == 2 and s["init_done_s"] == pytest.approx(0.25)
    assert s["elapsed_max"] == 3 and s["mode"] == {"kind": "realtime", "rate_hz": 10.0, "slowdown": 1.0}
    assert s["init_time_s"] == pytest.approx(0.25)


def test_catch_up_after_the_initialisation_tracks_the_frames_that_arrived_meanwhile():
    # 10 Hz, init 0.45 s (frames 1-4 have arrived), then 0.02 s a frame, catch-up 1 a step:
    #  frames 1, 2, 3 one after the other (done 0.47, 0.49, 0.51); at 0.51 frames 4 and 5
    #  wait and one arrived during the step, so the stride is 2: caught up, the newest (5).
    res, tr = _run(10, [0.45] + [0.02] * 9, Mode(10.0, catch_up_step=1))
    assert tr.calls == [(1, 1), (2, 1), (3, 1), (5, 2), (6, 1), (7, 1), (8, 1), (9, 1)]
    # Late results count only from the frames after theirs: frames 1-3 keep the init box,
    # frame 4 gets frame 2's box (ready at 0.49 < 0.5).
    assert [b[0] for b in res["boxes"]] == [0, 0, 0, 0, 2, 5, 6, 7, 8, 9]
    s = res["scores"]
    assert (s["frames_processed"], s["frames_skipped"], s["frames_caught_up"]) == (9, 1, 3)
    assert s["mode"]["catch_up_step"] == 1
    # Without catch-up the same tracker jumps to frame 4.
    res, tr = _run(10, [0.45] + [0.02] * 9, Mode(10.0))
    assert tr.calls[0] == (4, 4) and res["scores"]["frames_caught_up"] == 0


def test_a_tracker_slower_than_the_camera_catches_up_in_growing_strides():
    # 10 Hz, init 0.45 s, 0.15 s a frame: frame 1 (done 0.60); frames 2-6 wait, 2 arrived
    # during the step: stride 3, frame 4 (done 0.75); frames 5-7 wait, stride 3: caught up,
    # the newest from here on (7, then 9).
    res, tr = _run(10, [0.45] + [0.15] * 9, Mode(10.0, catch_up_step=1))
    assert tr.calls == [(1, 1), (4, 3), (7, 3), (9, 2)]
    assert res["scores"]["frames_caught_up"] == 2


def test_catch_up_steps_over_lost_frames():
    # Frames 2 and 3 are lost (drop seed chosen for it, checked below): the catch-up takes 1, then 4.
    mode = Mode(10.0, catch_up_step=1, drop=0.3, drop_burst=2, drop_seed=_seed_losing([2, 3], 10, 0.3, 2))
    res, tr = _run(10, [0.45] + [0.02] * 9, mode)
    assert tr.calls[:2] == [(1, 1), (4, 3)]
    assert all(frame not in (2, 3) for frame, _ in tr.calls)


def _seed_losing(frames, n, p, burst):
    """A drop seed whose first lost frames among ``n`` are exactly ``frames``."""
    for seed in range(10000):
        loss = FrameLoss(p, burst, seed)
        lost = [i for i in range(6) if loss.lost(i)]
        if lost == list(frames):
            return seed
    raise AssertionError("no such seed")


def test_slowdown_multiplies_every_measured_time():
    # The same calls at slowdown 2: init ends at 0.5 s -> newest frame 5; the update takes
    # 0.1 s -> done 0.6 (counts for frame 5); then frame 6 (0.3 s -> 0.9) and frame 9.
    res, tr = _run(10, [0.25, 0.05, 0.15, 0.01], Mode(10.0, slowdown=2.0))
    assert tr.calls == [(5, 5), (6, 1), (9, 3)]
    assert [b[0] for b in res["boxes"]] == [0, 0, 0, 0, 0, 5, 5, 5, 6, 9]


def test_the_init_box_is_held_until_the_first_result():
    # Initialisation outlasts the clip: no frame is ever tracked; every frame holds the init box.
    res, tr = _run(5, [0.55], Mode(10.0))
    assert tr.calls == []
    assert res["scores"]["frames_processed"] == 1 and res["scores"]["frames_skipped"] == 4
    assert res["scores"]["first_result_frame"] is None
    np.testing.assert_array_equal(res["boxes"], np.tile([0, 0, 10, 10], (5, 1)))


def test_a_tracker_faster_than_the_camera_scores_exactly_as_offline():
    n = 12
    gt = np.array([[i, 0, 10, 10] for i in range(n)], dtype=np.float64)
    rt, tr = _run(n, [0.03] + [0.0333] * (n - 1), Mode(30.0))
    off, _ = _run(n, [5.0] + [2.0] * (n - 1), Mode())
    assert tr.calls == [(i, 1) for i in range(1, n)]
    np.testing.assert_array_equal(rt["boxes"], off["boxes"])
    assert [b[0] for b in off["boxes"]] == list(range(n))
    a, b = evaluate(np.array(rt["boxes"]), gt), evaluate(np.array(off["boxes"]), gt)
    assert a.auc == b.auc == pytest.approx(1.0 * 20 / 21)
    assert rt["scores"]["frames_skipped"] == 0 and off["scores"]["mode"]["kind"] == "offline"


class ScriptedLearner(Scripted):
    """Scripted, but each frame's duration is (until the box, learning after it)."""

    def track(self, frame, *, attention=None, elapsed=1, learn=True):
        assert learn is False  # the harness hands the box on first
        self.calls.append((int(frame[0, 0, 0]), elapsed))
        self.box_s, self.learn_s = self.durations.pop(0)
        self.clock.now += self.box_s
        return TrackResult(np.array([frame[0, 0, 0], 0, 10, 10], float), 1.0, TrackState.TRACKING, 0, 0.0)

    def learn(self):
        self.clock.now += self.learn_s
        return {"update": self.learn_s}


def test_a_box_handed_on_before_learning_counts_from_then_and_the_learning_keeps_it_busy():
    # 10 Hz. Init 0.05 s. Frame 1 (arrives 0.1): box at 0.12, counts for frame 1 (deadline
    # 0.2); learning until 0.25. Frame 2, taken at 0.25: box at 0.27, before its deadline
    # 0.3; learning until 0.40, so frame 3 is skipped. Frame 4: box at 0.41, free at 0.42;
    # frame 5 at 0.5. Had the box come at the end of the learning, frames 1 and 2 would
    # hold older boxes.
    clock = FakeClock()
    made = {}

    def factory(spec, trunks):
        made["t"] = ScriptedLearner(spec.name, clock, [0.05, (0.02, 0.13), (0.02, 0.13), (0.01, 0.01),
                                                       (0.01, 0.0)])
        return made["t"]

    out = track_sequence(Frames(6), [TrackerSpec("csrt")], Mode(10.0), {}, clock=clock, tracker_factory=factory)
    (res,) = out.values()
    assert made["t"].calls == [(1, 1), (2, 1), (4, 2), (5, 1)]
    assert [b[0] for b in res["boxes"]] == [0, 1, 2, 2, 4, 5]
    s = res["scores"]
    assert s["frame_time_median_s"] == pytest.approx(0.085)   # busy: box and learning
    assert s["result_time_median_s"] == pytest.approx(0.015)  # until the box
    assert s["stage_time_s"]["update"] == pytest.approx(0.27)


class LostFrames:
    """A link that loses exactly the given frames (a hand-made FrameLoss)."""

    def __init__(self, frames):
        self.frames = set(frames)

    def lost(self, i):
        return i in self.frames

    def count(self, n):
        return sum(i in self.frames for i in range(n))


def test_lost_frames_reach_no_tracker_in_real_time(monkeypatch):
    # 10 Hz, frames 2, 3 and 6 lost; init 0.05 s, then 0.15 s a frame.
    #  free 0.05 -> waits for frame 1 (0.1), done 0.25
    #  free 0.25 -> frames 2 and 3 never come: waits for frame 4 (0.4), elapsed 3, done 0.55
    #  free 0.55 -> frame 5, done 0.70; free 0.70 -> frame 7 (6 lost), elapsed 2, done 0.85
    #  free 0.85 -> frame 8, done 1.0; frame 9 is skipped (the tracker is free when frame 10 would come)
    monkeypatch.setattr(Mode, "loss", lambda self: LostFrames({2, 3, 6}))
    res, tr = _run(10, [0.05] + [0.15] * 9, Mode(10.0, drop=0.5))
    assert tr.calls == [(1, 1), (4, 3), (5, 1), (7, 2), (8, 1)]
    # A lost frame is scored like any other: with the newest box a consumer had.
    assert [b[0] for b in res["boxes"]] == [0, 0, 1, 1, 1, 4, 5, 5, 7, 8]
    s = res["scores"]
    assert (s["frames_processed"], s["frames_skipped"], s["frames_lost"]) == (6, 1, 3)


def test_lost_frames_offline_are_scored_with_the_last_result(monkeypatch):
    monkeypatch.setattr(Mode, "loss", lambda self: LostFrames({2, 3, 6}))
    res, tr = _run(10, [5.0] + [2.0] * 9, Mode(drop=0.5))
    assert tr.calls == [(1, 1), (4, 3), (5, 1), (7, 2), (8, 1), (9, 1)]
    assert [b[0] for b in res["boxes"]] == [0, 1, 1, 1, 4, 5, 5, 7, 8, 9]
    s = res["scores"]
    assert (s["frames_processed"], s["frames_skipped"], s["frames_lost"]) == (7, 0, 3)


def test_frame_loss_draws_bursts_from_its_seed_and_never_the_first_frame():
    loss = FrameLoss(0.1, 3, seed=4)
    lost = [loss.lost(i) for i in range(3000)]
    assert lost == [FrameLoss(0.1, 3, seed=4).lost(i) for i in range(3000)]   # the same frames every time
    assert lost != [FrameLoss(0.1, 3, seed=5).lost(i) for i in range(3000)]
    assert not lost[0] and loss.count(3000) == sum(lost)
    runs, k = [], 0
    for i, x in enumerate(lost + [False]):
        if x:
            k += 1
        elif k:
            runs.append(k)
            k = 0
    if lost[-1]:
        runs.pop()  # the last burst may run past the frames asked about
    # Bursts of 3 (two may touch), started at about 1 frame in 10 of those not already lost.
    assert runs and all(r % 3 == 0 for r in runs)
    starts = sum(r // 3 for r in runs)
    assert 0.07 < starts / (3000 - sum(lost)) < 0.13


def test_every_tracker_of_a_run_loses_the_same_frames():
    clock = FakeClock()
    made = {}

    def factory(spec, trunks):
        made[spec.name] = Scripted(spec.name, clock, [0.0] + [0.0] * 40)
        return made[spec.name]

    mode = Mode(drop=0.3, drop_seed=2)
    track_sequence(Frames(40), [TrackerSpec("csrt"), TrackerSpec("kcf")], mode, {}, clock=clock,
                   tracker_factory=factory)
    lost = mode.loss()
    expected = [i for i in range(1, 40) if not lost.lost(i)]
    assert 0 < 39 - len(expected) < 39
    assert [f for f, _ in made["csrt"].calls] == [f for f, _ in made["kcf"].calls] == expected


def test_newest_before():
    init = np.array([9, 9, 9, 9.0])
    boxes = [np.full(4, 1.0), np.full(4, 2.0)]
    got = newest_before([0.1, 0.3], boxes, [0.05, 0.1, 0.2, 0.3, 1.0], init)
    assert got[:, 0].tolist() == [9, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="time order"):
        newest_before([0.3, 0.1], boxes, [1.0], init)


def test_mode_validation_and_names():
    assert Mode().suffix == "" and Mode(30).suffix == "@30hz" and Mode(30, 2.5).suffix == "@30hz-x2.5"
    assert Mode(30, drop=0.1).suffix == "@30hz-drop0.1" and Mode(drop=0.1, drop_burst=5, drop_seed=2).suffix == "@drop0.1x5s2"
    assert Mode(30, 2, drop=0.1, drop_burst=5).label == "30 Hz x2, drop 0.1 in bursts of 5"
    assert Mode(30, catch_up_step=1, drop=0.1).suffix == "@30hz-cu1-drop0.1"
    assert Mode(30, catch_up_step=2).label == "30 Hz, catch-up 2"
    for bad in (dict(rate_hz=0), dict(rate_hz=float("nan")), dict(rate_hz=30, slowdown=0), dict(slowdown=2),
                dict(drop=1.0), dict(drop=-0.1), dict(drop=float("nan")), dict(drop=0.1, drop_burst=0),
                dict(drop=0.1, drop_burst=1.5), dict(catch_up_step=1), dict(rate_hz=30, catch_up_step=-1),
                dict(rate_hz=30, catch_up_step=1.5)):
        with pytest.raises(ValueError):
            Mode(**bad)


def _write_clip(folder, n=8):
    (folder / "img").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.png"), np.full((8, 8, 3), i, np.uint8))
    (folder / "groundtruth_rect.txt").write_text("\n".join(f"{i + 1},1,10,10" for i in range(n)) + "\n")


def test_run_evaluation_stores_the_mode_and_counts_in_its_own_folder(tmp_path):
    _write_clip(tmp_path / "data" / "clip")
    seqs = load_sequences([tmp_path / "data"])
    clock = FakeClock()

    def factory(spec, trunks):  # init 0.05 s, then 0.05 s a frame: every other frame at 30 Hz
        return Scripted(spec.name, clock, [0.05] + [0.05] * 20)

    run = run_evaluation(seqs, [TrackerSpec("kcf")], tmp_path / "out", mode=Mode(30.0), progress=False,
                         clock=clock, tracker_factory=factory)
    stored = json.loads((tmp_path / "out" / "kcf@30hz" / "clip.json").read_text())
    assert stored["mode"]["rate_hz"] == 30.0 and stored["tracker"]["name"] == "kcf"
    assert stored["frames_processed"] + stored["frames_skipped"] == 8
    assert stored["frames_skipped"] > 0
    assert run.results["kcf@30hz"]["clip"]["auc"] == stored["auc"]
    boxes = np.loadtxt(tmp_path / "out" / "kcf@30hz" / "clip.txt", delimiter=",")
    assert len(boxes) == 8
    # The AUC stored equals an independent scoring of the boxes written.
    assert evaluate(boxes, seqs[0].groundtruth).auc == pytest.approx(stored["auc"], abs=1e-9)


class ScriptedWarm(Scripted):
    """Scripted, with a warm-up that takes ``warm_s`` on the clock and logs the frame shape."""

    warm_s = 0.7

    def __init__(self, *a):
        super().__init__(*a)
        self.warmed = []

    def warm_up(self, shape):
        self.warmed.append(tuple(shape))
        self.clock.now += self.warm_s


@pytest.mark.parametrize("mode", [Mode(10.0), Mode()])
def test_a_tracker_warms_up_off_the_clock_before_real_time_only(mode):
    """In real time a tracker that can warm up (as the node's does when configured) does so
    on the first frame's shape before its initialisation, and the warm-up is not on the
    camera's clock: the schedule is the one without it. Offline there is no warm-up."""
    clock = FakeClock()
    made = {}

    def factory(spec, trunks):
        made["t"] = ScriptedWarm(spec.name, clock, [0.25, 0.05, 0.05, 0.05, 0.05, 0.05])
        return made["t"]

    out = track_sequence(Frames(6), [TrackerSpec("csrt")], mode, {}, clock=clock, tracker_factory=factory)
    (res,) = out.values()
    assert made["t"].warmed == ([(4, 4)] if mode.rate_hz else [])
    assert res["scores"]["init_time_s"] == pytest.approx(0.25)
    if mode.rate_hz:  # init until 0.25 (the warm-up's 0.7 s not counted): frame 1 skipped, then every frame
        assert made["t"].calls == [(2, 2), (3, 1), (4, 1), (5, 1)]
