"""The scale filter (DSST, core/scale_filter.py) and how the tracker uses it."""
import cv2
import numpy as np
import pytest

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.scale_filter import ScaleFilter, blend_size, gray_frame
from rl_tracker_ros.core.tracker import DATTracker

from conftest import SMALL_FAST, TinyTrunk, synthetic_sequence


def scaled_scene(factors, base=(40, 56), size=(240, 200), seed=0):
    """Frames of a smooth random texture of ``base`` (w, h) px, scaled by each factor about a
    fixed centre over a noisy background, and the true sizes."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (base[1] * 3, base[0] * 3)).astype(np.float32), (0, 0), 4)
    texture = cv2.normalize(texture, None, 30, 250, cv2.NORM_MINMAX).astype(np.uint8)
    bg = rng.integers(0, 40, (size[1], size[0]), dtype=np.uint8)
    cx, cy = size[0] / 2, size[1] / 2
    frames, sizes = [], []
    for f in factors:
        w, h = int(round(base[0] * f)), int(round(base[1] * f))
        frame = bg.copy()
        x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
        frame[y0:y0 + h, x0:x0 + w] = cv2.resize(texture, (w, h), interpolation=cv2.INTER_AREA)
        frames.append(frame)
        sizes.append((w, h))
    return frames, np.array(sizes, dtype=float), (cx, cy)


@pytest.mark.parametrize("rate", [1.015, 1.0, 1 / 1.015])
def test_the_filter_follows_a_target_that_grows_shrinks_or_stays(rate):
    factors = rate ** np.arange(25)  # up to 1.43x larger or 0.70x smaller
    frames, sizes, centre = scaled_scene(factors)
    sf = ScaleFilter(np.r_[np.subtract(centre, sizes[0] / 2), sizes[0]])
    sf.learn(frames[0], centre)
    for frame in frames[1:]:
        sf.estimate(frame, centre)
        sf.learn(frame, centre)
    ratio = sf.size / sizes[-1]
    assert np.all(np.abs(np.log(ratio)) < np.log(1.06)), (rate, ratio)


def test_a_filter_needs_a_first_frame_and_sane_settings():
    sf = ScaleFilter([10, 10, 30, 40])
    with pytest.raises(RuntimeError, match="before learn"):
        sf.estimate(np.zeros((100, 100), np.uint8), (25, 30))
    for bad in (dict(n_scales=2), dict(step=1.0), dict(lr=0.0), dict(lr=1.5)):
        with pytest.raises(ValueError, match="scale filter"):
            ScaleFilter([10, 10, 30, 40], **bad)


def test_blend_size_moves_the_size_in_log_scale_about_the_centre():
    box = np.array([10.0, 20.0, 40.0, 10.0])
    assert np.allclose(blend_size(box, np.array([90.0, 40.0]), 0.0), box)
    assert np.allclose(blend_size(box, np.array([90.0, 40.0]), 1.0), [-15.0, 5.0, 90.0, 40.0])
    half = blend_size(box, np.array([90.0, 40.0]), 0.5)
    assert np.allclose(half[2:], [60.0, 20.0])
    assert np.allclose(half[:2] + half[2:] / 2, box[:2] + box[2:] / 2)
    assert gray_frame(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5)


def test_the_config_checks_the_filter_settings():
    for bad in (dict(scale_filter_weight=-0.1), dict(scale_filter_weight=1.5), dict(scale_filter_scales=2), dict(scale_filter_scales=1000),
                dict(scale_filter_step=0.99), dict(scale_filter_lr=0.0)):
        with pytest.raises(ValueError, match="scale_filter"):
            TrackerConfig.preset("fast", **bad)


def test_the_filter_sizes_the_reported_box_only():
    """The search goes on from the candidates' own boxes: with the filter the tracker
    reports the same centres as without it (it draws no random numbers) and other sizes,
    each the geometric blend of the regression's and the filter's."""
    frames, gt = synthetic_sequence(n=8)
    runs = {}
    for weight in (0.0, 0.5):
        tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, scale_filter_weight=weight, translation_filter_weight=0.0, filter_search_share=0.0, filter_window=0.0),
                             backbone=TinyTrunk())
        tracker.initialize(frames[0], gt[0])
        assert (tracker.refiner is None) == (weight == 0.0)
        runs[weight] = [tracker.track(f) for f in frames[1:]]
    for plain, blended in zip(runs[0.0], runs[0.5]):
        assert np.allclose(plain.box[:2] + plain.box[2:] / 2, blended.box[:2] + blended.box[2:] / 2, atol=1e-6)
        assert "refine" in blended.stages and "refine" not in plain.stages
    assert not all(np.allclose(p.box[2:], b.box[2:]) for p, b in zip(runs[0.0], runs[0.5]))


def test_the_filter_learns_only_from_confident_frames_and_after_the_box_is_out():
    frames, gt = synthetic_sequence(n=4)
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, scale_filter_weight=0.5, translation_filter_weight=0.0, filter_search_share=0.0, filter_window=0.0),
                         backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    learnt = []
    original = tracker.refiner.scale.learn
    tracker.refiner.scale.learn = lambda gray, centre: (learnt.append(tuple(centre)), original(gray, centre))
    result = tracker.track(frames[1], learn=False)
    assert learnt == []  # the box came out before the filter learnt from the frame
    tracker.learn()
    assert len(learnt) == 1 and np.allclose(learnt[0], result.box[:2] + result.box[2:] / 2)
    tracker.cfg = tracker.cfg.replace(success_threshold=1e9)  # no frame is confident now
    tracker.track(frames[2])
    assert len(learnt) == 1


@pytest.mark.parametrize("rate", [1.0, 1.03, 1 / 1.03])
def test_learning_reuses_the_ladder_of_the_estimate(rate):
    """An exact saving, not an approximation: the model is the same as with a fresh read.
    Where the estimate kept the size the learning reads nothing; where it took a step, the
    new size is one of the ladder's samples and only the samples beyond its end are read."""
    frames, sizes, centre = scaled_scene(rate ** np.arange(8))
    box = np.r_[np.subtract(centre, sizes[0] / 2), sizes[0]]
    cached, fresh = ScaleFilter(box), ScaleFilter(box)
    for sf in (cached, fresh):
        sf.learn(frames[0], centre)
    reads = []
    original = cached._ladder
    cached._ladder = lambda gray, c, steps: (reads.append(len(steps)), original(gray, c, steps))[1]
    for frame in frames[1:]:
        for sf in (cached, fresh):
            sf.estimate(frame, centre)
        step = cached._last[4]
        fresh._last = None
        cached.learn(frame, centre)
        fresh.learn(frame, centre)
        assert reads[-1] == (abs(step) if step else 33) and len(reads) == (2 if step else 1), (step, reads)
        reads.clear()
        assert np.allclose(cached._num, fresh._num) and np.allclose(cached._den, fresh._den)
        assert np.allclose(cached.size, fresh.size)
    cached.estimate(frames[1], centre)
    cached.learn(frames[1].copy(), centre)  # another frame: read again
    assert reads == [33, 33]
