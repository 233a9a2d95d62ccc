"""The tracker API on synthetic frames with a tiny trunk (fast, no weights needed)."""
import numpy as np
import pytest
import torch

from rl_tracker_ros.core.boxes import iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker, TrackState

from conftest import SMALL_FAST, TinyTrunk, synthetic_sequence

FAST = dict(device="cpu", feature_scale=20.0, n_pos_init=100, n_neg_init=400, iters_init=30, n_bbreg=200, n_samples=64,
            batch_neg_cand=128, iters_update=3, n_pos_update=20, n_neg_update=60, lost_after=3)


def make(lam=5.0, **kw):
    return DATTracker(TrackerConfig(lam=lam, **{**FAST, **kw}), backbone=TinyTrunk())


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_follows_a_moving_target(lam):
    frames, gt = synthetic_sequence(n=12)
    tr = make(lam)
    first = tr.initialize(frames[0], gt[0])
    assert first.state is TrackState.TRACKING and np.allclose(first.box, gt[0])
    ious = []
    for f, g in zip(frames[1:], gt[1:]):
        r = tr.track(f)
        assert r.box.shape == (4,) and np.isfinite(r.score) and r.time_s > 0
        assert {"crops", "features", "scoring", "update"} <= set(r.stages)
        ious.append(iou(r.box, g)[0])
    assert np.mean(ious) > 0.5, ious


def test_grayscale_frames_and_reinitialisation():
    frames, gt = synthetic_sequence(n=4)
    gray = [f.mean(axis=2).astype(np.uint8) for f in frames]
    tr = make(0.0)
    tr.initialize(gray[0], gt[0])
    assert tr.track(gray[1][:, :, None]).state in (TrackState.TRACKING, TrackState.UNCERTAIN)
    r = tr.initialize(frames[2], [10, 10, 20, 20])
    assert r.frame_index == 0 and np.allclose(r.box, [10, 10, 20, 20])
    assert tr.track(frames[3]).frame_index == 1


def test_same_seed_same_run():
    frames, gt = synthetic_sequence(n=4)
    runs = []
    for _ in range(2):
        tr = make(5.0)
        tr.initialize(frames[0], gt[0])
        runs.append([tr.track(f).box for f in frames[1:]])
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))


def test_every_initialisation_starts_from_the_same_untrained_classifier():
    """The untrained classifier is drawn once, when the tracker is built; a second
    initialisation must start from it again, not from the classifier the first one trained,
    and with the same random streams: the same run as a tracker built afresh."""
    frames, gt = synthetic_sequence(n=5)

    def run(tr):
        tr.initialize(frames[0], gt[0])
        return [tr.track(f).box for f in frames[1:]]

    tr = make(0.0)
    first = run(tr)
    again = run(tr)
    fresh = run(make(0.0))
    np.testing.assert_array_equal(np.array(again), np.array(first))
    np.testing.assert_array_equal(np.array(fresh), np.array(first))
    assert not torch.equal(tr.head.fc4.weight, tr._blank[0].fc4.weight)  # trained a copy, not the blank


def test_bad_inputs_are_clear_errors_and_lose_nothing():
    frames, gt = synthetic_sequence(n=3)
    tr = make(0.0)
    with pytest.raises(RuntimeError, match="before initialize"):
        tr.track(frames[0])
    with pytest.raises(ValueError, match="outside"):
        tr.initialize(frames[0], [1000, 1000, 10, 10])
    with pytest.raises(ValueError, match="non-positive"):
        tr.initialize(frames[0], [10, 10, 0, 10])
    tr.initialize(frames[0], gt[0])
    with pytest.raises(ValueError, match="uint8"):
        tr.track(frames[1].astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        tr.track(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(TypeError):
        tr.track("frame.jpg")
    # The tracker is intact after the rejected calls.
    assert tr.frame_index == 0
    assert iou(tr.track(frames[1]).box, gt[1])[0] > 0.3


def test_target_leaving_gives_uncertain_then_lost_without_a_fake_box():
    frames, gt = synthetic_sequence(n=3)
    # The tiny random trunk's background logits sit near +0.1, so the test raises the
    # success threshold; the state logic under test is the same.
    tr = make(0.0, success_threshold=0.3)
    assert tr.initialize(frames[0], gt[0]).score > 0.3
    tr.track(frames[1])
    empty = np.random.default_rng(5).integers(0, 90, frames[0].shape, dtype=np.uint8)
    states, boxes = [], []
    for _ in range(4):
        r = tr.track(empty)
        states.append(r.state)
        boxes.append(r.box)
        assert r.score <= tr.cfg.success_threshold
    assert states[0] is TrackState.UNCERTAIN and states[-1] is TrackState.LOST
    assert all(np.array_equal(b, boxes[0]) for b in boxes)  # the last confident box, not a new guess


def test_attention_map_on_demand():
    frames, gt = synthetic_sequence(n=3)
    tr = make(0.0)
    tr.initialize(frames[0], gt[0])
    assert tr.track(frames[1]).attention is None
    r = tr.track(frames[2], attention=True)
    h, w = frames[2].shape[:2]
    assert r.attention.shape == (h, w) and r.attention.dtype == np.float32
    assert 0 < r.attention.max() <= 1.0 and r.attention.min() >= 0
    x, y, bw, bh = r.box.astype(int)
    assert r.attention[max(y, 0):y + bh, max(x, 0):x + bw].sum() > 0
    assert r.attention[:, : max(x - 30, 0)].sum() == 0  # nothing far outside the crop


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        DATTracker(TrackerConfig(device="cuda"), backbone=TinyTrunk())


def test_failure_during_initialisation_leaves_the_tracker_idle(monkeypatch):
    frames, gt = synthetic_sequence(n=2)
    tr = make(0.0)
    tr.initialize(frames[0], gt[0])

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr("rl_tracker_ros.core.tracker.train_classifier", oom)
    with pytest.raises(RuntimeError, match="out of memory"):
        tr.initialize(frames[1], gt[1])
    assert tr.state is TrackState.IDLE
    with pytest.raises(RuntimeError, match="before initialize"):
        tr.track(frames[1])


@pytest.mark.parametrize("profile", ["paper", "fast"])
def test_no_confident_box_from_a_classifier_that_could_not_be_trained(profile):
    """A 3x3 target gives no positive training sample (samples are at least min_box_size):
    the first frame fails with the reason and the tracker stays IDLE, never TRACKING."""
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tr = DATTracker(TrackerConfig.preset(profile, **{**FAST, "lam": 0.0}), backbone=TinyTrunk())
    with pytest.raises(ValueError, match="0 positive and .* negative training samples"):
        tr.initialize(frame, (50, 50, 3, 3))
    assert tr.state is TrackState.IDLE
    with pytest.raises(RuntimeError, match="before initialize"):
        tr.track(frame)


def test_an_update_with_nothing_to_train_on_is_counted_and_skipped(monkeypatch):
    frames, gt = synthetic_sequence(n=4)
    tr = make(0.0, success_threshold=1e9)  # every frame fails: a short-term update each frame
    tr.initialize(frames[0], gt[0])
    tr.memory.neg.clear()  # no negatives left to train against
    steps = []
    monkeypatch.setattr(tr, "_train", lambda *a: steps.append(a))
    r = tr.track(frames[1])
    assert r.state is TrackState.UNCERTAIN and r.updates_skipped == 1 and steps == []
    assert tr.track(frames[2]).updates_skipped == 2


def test_interleaved_trackers_run_as_they_would_alone():
    """Dropout draws from a stream of each tracker's own: a second tracker interleaved in the
    same process (as in an evaluation) or other use of torch's global generator changes nothing."""
    frames, gt = synthetic_sequence(n=8)

    def solo(seed):
        tr = make(0.0, seed=seed, long_interval=1)  # an update (dropout) on every frame
        return [tr.initialize(frames[0], gt[0]).box] + [tr.track(f).box for f in frames[1:]]

    alone_a, alone_b = solo(0), solo(1)
    a, b = make(0.0, seed=0, long_interval=1), make(0.0, seed=1, long_interval=1)
    got_a, got_b = [a.initialize(frames[0], gt[0]).box], [b.initialize(frames[0], gt[0]).box]
    for f in frames[1:]:
        torch.rand(1000)  # someone else drawing from the global generator
        got_a.append(a.track(f).box)
        got_b.append(b.track(f).box)
    np.testing.assert_array_equal(np.array(got_a), np.array(alone_a))
    np.testing.assert_array_equal(np.array(got_b), np.array(alone_b))
    assert not np.array_equal(np.array(alone_a), np.array(alone_b))  # the seeds do differ


@pytest.mark.parametrize("growth, spreads", [(0.0, [1.5, 1.5, 1.5, 1.5, 1.5]),
                                             (0.3, [0.78, 1.014, 1.3182, 1.5, 1.5])])
def test_the_search_widens_after_failures_at_once_or_failure_by_failure(growth, spreads):
    """trans_growth 0 (DAT's code): the first failure searches trans_expand wide; > 0: each
    failure widens the spread by 1 + trans_growth, up to trans_expand; a success returns to
    trans. Read off the spread each frame's candidates are drawn with."""
    frames, gt = synthetic_sequence(n=3)
    tr = make(0.0, success_threshold=0.3, trans_growth=growth, lost_after=10)
    tr.initialize(frames[0], gt[0])
    drawn_with = []
    make_generator = tr._generator

    def recording(kind, shape, trans, *rest):
        if kind == "gaussian" and trans >= tr.cfg.trans:  # the search's draws, not the training samples'
            drawn_with.append(trans)
        return make_generator(kind, shape, trans, *rest)

    tr._generator = recording
    empty = np.random.default_rng(5).integers(0, 90, frames[0].shape, dtype=np.uint8)
    for _ in spreads:
        assert tr.track(empty).score <= 0.3
    tr.track(frames[1])
    np.testing.assert_allclose(drawn_with, [tr.cfg.trans] + spreads, rtol=1e-9)  # the last: frames[1]'s search
    assert tr.state is TrackState.TRACKING and tr.trans == tr.cfg.trans


def test_only_the_fast_profile_widens_its_search_failure_by_failure():
    assert TrackerConfig.preset("paper").trans_growth == 0.0
    assert TrackerConfig.preset("fast").trans_growth == 0.3
    with pytest.raises(ValueError, match="trans_growth"):
        TrackerConfig(trans_growth=-0.1)


def test_a_warm_up_leaves_nothing_behind():
    """``warm_up`` (what the node runs when it builds the tracker) leaves it IDLE, and a run
    after it is the run without it: every random stream starts afresh at ``initialize``."""
    frames, gt = synthetic_sequence(n=5)
    runs = []
    for warm in (False, True):
        tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST), backbone=TinyTrunk())
        if warm:
            assert tracker.warm_up((96, 128)) > 0
            assert tracker.state == TrackState.IDLE and tracker.head is None
            with pytest.raises(RuntimeError, match="before initialize"):
                tracker.track(frames[0])
        tracker.initialize(frames[0], gt[0])
        runs.append([(r.box, r.score) for r in (tracker.track(f) for f in frames[1:])])
    for (box_a, score_a), (box_b, score_b) in zip(*runs):
        assert np.array_equal(box_a, box_b) and score_a == score_b
