"""The translation filter (core/translation_filter.py) and the box refiner that runs it
before the scale filter (core/refiner.py), alone and in the tracker."""
import cv2
import numpy as np
import pytest
import torch

from rl_tracker_ros.core.boxes import centers
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.refiner import BoxRefiner
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.translation_filter import TranslationFilter

from conftest import SMALL_FAST, TinyTrunk, synthetic_sequence


def moving_scene(steps, base=(36, 48), size=(320, 240), seed=0):
    """Frames of a smooth random texture of ``base`` (w, h) px moved by each (dx, dy) step
    (sub-pixel, through an affine warp) over a fixed noisy background, and its true centres."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (base[1], base[0])).astype(np.float32), (0, 0), 2)
    texture = cv2.normalize(texture, None, 40, 250, cv2.NORM_MINMAX)
    bg = cv2.GaussianBlur(rng.uniform(0, 60, (size[1], size[0])).astype(np.float32), (0, 0), 1.5)
    centre = np.array([size[0] / 2, size[1] / 2])
    frames, centres = [], []
    for step in [(0.0, 0.0)] + list(steps):
        centre = centre + step
        warp = np.float32([[1, 0, centre[0] - base[0] / 2], [0, 1, centre[1] - base[1] / 2]])
        mask = cv2.warpAffine(np.ones_like(texture), warp, size)
        target = cv2.warpAffine(texture, warp, size)
        frames.append(np.clip(bg * (1 - mask) + target * mask, 0, 255).astype(np.uint8))
        centres.append(centre.copy())
    return frames, np.array(centres), np.array(base, dtype=float)


@pytest.mark.parametrize("step", [(3.0, -2.0), (-5.5, 0.0), (0.0, 0.0)])
def test_the_filter_finds_where_the_target_moved(step):
    frames, centres, size = moving_scene([step] * 12)
    tf = TranslationFilter(np.r_[centres[0] - size / 2, size])
    tf.learn(frames[0], centres[0], size)
    for t in range(1, len(frames)):
        # Searched about the last centre, as the tracker's box lags a moving target.
        shift = tf.estimate(frames[t], centres[t - 1], size)
        assert np.all(np.abs(centres[t - 1] + shift - centres[t]) < 1.0), (t, shift, centres[t] - centres[t - 1])
        tf.learn(frames[t], centres[t - 1] + shift, size)


def test_the_shift_is_in_frame_pixels_whatever_the_window_is_resized_to():
    frames, centres, size = moving_scene([(4.0, 3.0)], base=(90, 110), size=(480, 400))
    for template in (96, 160):  # the window (225 x 275 px) is shrunk about 2.5x and 1.5x into its template
        tf = TranslationFilter(np.r_[centres[0] - size / 2, size], template=template)
        tf.learn(frames[0], centres[0], size)
        shift = tf.estimate(frames[1], centres[0], size)
        assert np.allclose(shift, [4.0, 3.0], atol=1.5), (template, shift)


def test_a_filter_needs_a_first_frame_and_sane_settings():
    tf = TranslationFilter([10, 10, 30, 40])
    with pytest.raises(RuntimeError, match="before learn"):
        tf.estimate(np.zeros((100, 100), np.uint8), (25, 30), (30, 40))
    for bad in (dict(padding=0.0), dict(lr=0.0), dict(lr=1.5), dict(template=8)):
        with pytest.raises(ValueError, match="translation filter"):
            TranslationFilter([10, 10, 30, 40], **bad)


def _refiner_on_a_moving_scene(n: int):
    """RGB frames of a target moving (3, 2) px a frame, its centres and size, its first box,
    and a refiner with both filters started on it."""
    frames, centres, size = moving_scene([(3.0, 2.0)] * n)
    rgb = [cv2.cvtColor(f, cv2.COLOR_GRAY2RGB) for f in frames]
    box0 = np.r_[centres[0] - size / 2, size]
    return rgb, centres, size, box0, BoxRefiner(rgb[0], box0, translation_weight=1.0, scale_weight=0.5)


def test_the_refiner_moves_then_resizes_and_learns_the_box_it_gave():
    rgb, centres, size, box0, refiner = _refiner_on_a_moving_scene(4)
    learnt = []
    original = refiner.translation.learn
    refiner.translation.learn = lambda gray, centre, sz: (learnt.append(np.array(centre)), original(gray, centre, sz))
    lagging = np.r_[centres[0] - size / 2, size]  # the box where it was a frame ago
    box = refiner.refine(rgb[1], lagging)
    assert np.allclose(box[:2] + box[2:] / 2, centres[1], atol=1.0)
    assert learnt == []
    refiner.learn()
    assert len(learnt) == 1 and np.allclose(learnt[0], box[:2] + box[2:] / 2)
    refiner.learn()  # a refined frame is learnt once
    assert len(learnt) == 1
    half = BoxRefiner(rgb[0], box0, translation_weight=0.5, scale_weight=0.0)
    assert half.scale is None
    moved = half.refine(rgb[1], lagging)
    assert np.allclose(moved[:2] + moved[2:] / 2, (centres[0] + centres[1]) / 2, atol=1.0)
    assert np.allclose(moved[2:], size)


def test_the_translation_filter_moves_the_reported_box_only():
    """Without the search prior (``filter_search_share`` 0) the search goes on from the
    candidates' own boxes: with the filter the tracker's search state is the same as
    without it (the filter draws no random numbers) and the reported centres differ."""
    frames, gt = synthetic_sequence(n=8)
    runs, states = {}, {}
    for weight in (0.0, 0.5):
        tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, translation_filter_weight=weight, scale_filter_weight=0.0,
                                                  filter_search_share=0.0, filter_window=0.0),
                             backbone=TinyTrunk())
        tracker.initialize(frames[0], gt[0])
        assert (tracker.refiner is None) == (weight == 0.0)
        runs[weight], states[weight] = [], []
        for f in frames[1:]:
            runs[weight].append(tracker.track(f))
            states[weight].append(tracker.target.copy())
    assert np.allclose(states[0.0], states[0.5])
    assert all("refine" in r.stages for r in runs[0.5]) and not any("refine" in r.stages for r in runs[0.0])
    assert not all(np.allclose(p.box[:2], b.box[:2]) for p, b in zip(runs[0.0], runs[0.5]))
    assert all(np.allclose(p.box[2:], b.box[2:]) for p, b in zip(runs[0.0], runs[0.5]))  # no scale filter: sizes kept


def test_the_config_checks_the_translation_filter_settings():
    for bad in (dict(translation_filter_weight=-0.1), dict(translation_filter_weight=1.5),
                dict(translation_filter_padding=0.0), dict(translation_filter_padding=9.0),
                dict(translation_filter_lr=0.0)):
        with pytest.raises(ValueError, match="translation_filter"):
            TrackerConfig.preset("fast", **bad)


def test_the_filter_search_prior_draws_its_share_about_the_located_centre():
    """``filter_search_share`` of the candidates are drawn about the translation filter's
    peak in the new frame, the rest about the last box; the peak is located once a frame
    and the refinement estimates again about the box it is given."""
    frames, gt = synthetic_sequence(n=3, step=(9, 5))  # a fast target: 9 px a frame, its box 24 px wide
    for share in (0.0, 0.5):
        tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, filter_search_share=share,
                                                  filter_window=0.3 if share else 0.0),
                             backbone=TinyTrunk())
        tracker.initialize(frames[0], gt[0])
        peak, sharpness = tracker.refiner.locate(frames[1], tracker.target)
        true_centre = gt[1, :2] + gt[1, 2:] / 2
        assert np.allclose(peak, true_centre, atol=2.0), (peak, true_centre)
        assert sharpness > 10.0  # one sharp peak on a textured target over noise
        last = tracker.target[:2] + tracker.target[2:] / 2
        drawn = tracker._candidates(frames[1], tracker.cfg.trans, None, peak if share else None)
        n_moved = int(round(len(drawn) * share))
        centres = drawn[:, :2] + drawn[:, 2:] / 2
        if n_moved:
            assert np.linalg.norm(centres[:n_moved].mean(axis=0) - peak) < 4.0
        assert np.linalg.norm(centres[n_moved:].mean(axis=0) - last) < 4.0
        estimates = []
        original = tracker.refiner.translation.respond  # estimate() answers through it too
        tracker.refiner.translation.respond = lambda *a: (estimates.append(1), original(*a))[1]
        result = tracker.track(frames[1])
        assert result.state.value == "tracking"
        assert len(estimates) == (2 if share else 1)  # where to search (share > 0), then how far off the box is


def test_the_config_checks_the_filter_search_share():
    for bad in (dict(filter_search_share=-0.1), dict(filter_search_share=1.5),
                dict(filter_search_share=0.5, translation_filter_weight=0.0)):
        with pytest.raises(ValueError, match="filter_search_share"):
            TrackerConfig.preset("fast", **bad)


def test_the_filter_window_ranks_a_candidate_on_the_peak_above_a_look_alike():
    """Two candidates the classifier scores almost alike: by score alone the look-alike
    (25 px off) wins; with ``filter_window`` the one on the translation filter's peak does,
    and without a peak (no search prior this frame) the ranking is the scores'."""
    frames, gt = synthetic_sequence(n=2)
    ranks = {}
    for window in (0.0, 0.3):
        tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, filter_search_share=0.5, filter_window=window),
                             backbone=TinyTrunk())
        tracker.initialize(frames[0], gt[0])
        peak = gt[0, :2] + gt[0, 2:] / 2
        # and a background candidate the classifier rejects, as most of a frame's are
        boxes = np.stack([gt[0], gt[0] + np.array([25.0, 0.0, 0.0, 0.0]), gt[0] + np.array([0.0, 30.0, 0.0, 0.0])])
        scores = torch.tensor([0.8, 0.9, -1.0])
        ranks[window] = tracker._rank(scores, boxes, tracker.cfg.trans, peak)
        assert torch.equal(tracker._rank(scores, boxes, tracker.cfg.trans, None), scores)
    assert int(ranks[0.0].argmax()) == 1 and int(ranks[0.3].argmax()) == 0


def test_the_config_checks_the_filter_window():
    for bad in (dict(filter_search_share=0.5, filter_window=-0.1), dict(filter_search_share=0.5, filter_window=1.0),
                dict(filter_search_share=0.0, filter_window=0.3),
                dict(filter_search_share=0.5, filter_window=0.3, window_influence=0.1)):
        with pytest.raises(ValueError, match="filter_window"):
            TrackerConfig.preset("fast", **bad)


def test_the_peak_to_sidelobe_ratio_falls_where_the_target_is_gone():
    """The filter's peak is sharp on its target and low where the window holds only
    background: how the tracker tells a filter it can lean on (``filter_window_psr``)."""
    frames, centres, size = moving_scene([(2.0, 1.0)] * 3)
    tf = TranslationFilter(np.r_[centres[0] - size / 2, size])
    for t in range(3):
        tf.learn(frames[t], centres[t], size)
    _, on_target = tf.respond(frames[3], centres[2], size)
    _, off_target = tf.respond(frames[3], centres[2] + np.array([-110.0, -80.0]), size)  # a corner of background
    assert on_target > 2 * off_target, (on_target, off_target)
    assert np.allclose(tf.respond(frames[3], centres[2], size)[0], tf.estimate(frames[3], centres[2], size))


def _window_influences(monkeypatch, elapsed=(1, 1), **settings):
    """The influence each tracked frame's window was mixed in with (nothing recorded for a
    frame ranked by score alone), for a tracker with these settings on a short sequence
    whose frames after the first come ``elapsed`` frame intervals apart."""
    import rl_tracker_ros.core.tracker as tracker_module
    frames, gt = synthetic_sequence(n=len(elapsed) + 1, step=(6, 3))
    seen = []
    real = tracker_module.windowed_ranking
    monkeypatch.setattr(tracker_module, "windowed_ranking",
                        lambda *a: (seen.append(a[4]), real(*a))[1])
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, **settings), backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    for frame, gap in zip(frames[1:], elapsed):
        tracker.track(frame, elapsed=gap)
    return seen


def test_the_filter_window_waits_for_a_sharp_peak(monkeypatch):
    """Below ``filter_window_psr`` the candidates are ranked by score alone."""
    assert _window_influences(monkeypatch, filter_window_psr=0.0) == [0.3, 0.3]
    assert _window_influences(monkeypatch, filter_window_psr=1e6) == []


def test_the_filter_windows_influence_grows_with_its_sharpness(monkeypatch):
    """With ``filter_window_psr_full`` the window's influence is ``filter_window`` x
    min(1, ratio / full): all of it for a peak sharper than ``full``, a sliver far below."""
    assert _window_influences(monkeypatch, filter_window_psr_full=1e-3) == [0.3, 0.3]
    faint = _window_influences(monkeypatch, filter_window_psr_full=1e6)
    assert len(faint) == 2 and all(0 < v < 1e-3 for v in faint)


def test_a_refined_box_the_filters_should_not_learn_leaves_nothing_to_learn():
    rgb, _, _, box0, refiner = _refiner_on_a_moving_scene(2)
    learnt = []
    refiner.translation.learn = lambda *a: learnt.append("translation")
    refiner.scale.learn = lambda *a: learnt.append("scale")
    kept = refiner.refine(rgb[1], box0, learn=False)
    refiner.learn()
    assert learnt == [] and np.allclose(kept, refiner.refine(rgb[1], box0))  # the same box either way
    refiner.learn()
    assert learnt == ["translation", "scale"]


def _frames_the_filter_learns(**settings):
    """How many tracked frames the translation filter learnt (after the first), and the
    results, for a fast tracker with these settings on a short moving sequence."""
    frames, gt = synthetic_sequence(n=4, step=(6, 3))
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, **settings), backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    learnt = []
    original = tracker.refiner.translation.learn
    tracker.refiner.translation.learn = lambda *a: (learnt.append(1), original(*a))
    results = [tracker.track(f) for f in frames[1:]]
    return len(learnt), results


@pytest.mark.parametrize("agreement, learns", [(0.0, True), (1e6, True), (1e-9, False)])
def test_the_filters_skip_a_frame_where_the_classifier_and_the_filter_disagree(agreement, learns):
    """``filter_agreement``: the filters learn a tracked frame only where the classifier's
    own top-k (by score alone) lies within that many target sizes of the filter's peak; 0
    turns the check off. A tolerance of 1e-9 sizes is never met, 1e6 always."""
    learnt, results = _frames_the_filter_learns(filter_agreement=agreement)
    tracked = sum(r.state.value == "tracking" for r in results)
    assert tracked == len(results)
    assert learnt == (tracked if learns else 0)


@pytest.mark.parametrize("agreement, gap_alone, influences", [
    (1e-9, 2, [0.3, 0.3]),  # apart after the gap of 3: ranked by score alone there
    (1e6, 2, [0.3, 0.3, 0.3]),  # they agree: the window stays
    (1e-9, 0, [0.3, 0.3, 0.3]),  # off
    (1e-9, 4, [0.3, 0.3, 0.3]),  # a gap of 3 is too short
])
def test_after_a_gap_a_frame_where_they_disagree_is_ranked_by_the_classifier_alone(
        monkeypatch, agreement, gap_alone, influences):
    """``gap_classifier_alone``: from gaps of that many intervals on, a frame where the
    classifier's own choice and the filter's peak are apart (at 1e-9 sizes every frame, at
    1e6 none) gets no window on the peak; frames after shorter gaps and agreeing frames keep
    it. The frames come 1, 3 and 1 intervals apart."""
    seen = _window_influences(monkeypatch, elapsed=(1, 3, 1), filter_agreement=agreement,
                              gap_classifier_alone=gap_alone, filter_window_psr_full=0.0)
    assert seen == influences


def test_the_config_checks_the_window_scaling_and_the_agreement():
    for bad in (dict(filter_window_psr_full=-1.0), dict(filter_agreement=-0.5), dict(gap_classifier_alone=-1)):
        with pytest.raises(ValueError, match="filter_window_psr_full|filter_agreement|gap_classifier_alone"):
            TrackerConfig.preset("fast", **bad)
    # modifiers of the prior and its window: with both off they have nothing to act on
    TrackerConfig.preset("fast", filter_search_share=0.0, filter_window=0.0)


def test_without_the_search_prior_the_filters_learn_every_tracked_frame():
    """``filter_agreement`` compares with the search prior's peak: without the prior there
    is none, and every tracked frame is learnt (even at a tolerance no frame could meet)."""
    learnt, results = _frames_the_filter_learns(filter_search_share=0.0, filter_window=0.0, filter_agreement=1e-9)
    assert learnt == sum(r.state.value == "tracking" for r in results) == len(results)


def _tracker_on_a_jump(jump=(40.0, 0.0)):
    """A fast tracker started on ``moving_scene``'s first frame, and the RGB frame after a
    jump of ``jump`` px (a gap: over a target width) with a fainter look-alike of the
    target left where it was (a player it crossed), and the target's true centre there."""
    frames, centres, size = moving_scene([jump])
    x0, y0 = (centres[0] - size / 2).astype(int)
    w, h = size.astype(int)
    later = frames[1].copy()
    later[y0:y0 + h, x0:x0 + w] = (0.7 * frames[0][y0:y0 + h, x0:x0 + w]).astype(np.uint8)
    rgb = [cv2.cvtColor(f, cv2.COLOR_GRAY2RGB) for f in (frames[0], later)]
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, filter_second_look=True), backbone=TinyTrunk())
    tracker.initialize(rgb[0], np.r_[centres[0] - size / 2, size])
    return tracker, rgb[1], centres[1]


def test_the_second_look_about_the_classifiers_choice_finds_a_target_that_jumped():
    """Searched about the last box, the filter's peak lands on the look-alike left there
    (the target answers at its window's edge, under the cosine window); about the
    classifier's choice (here the true centre) it answers sharper, on the target, and that
    peak is the one ``_second_look`` keeps."""
    tracker, frame, truth = _tracker_on_a_jump()
    first_peak, first_sharpness = tracker.refiner.locate(frame, tracker.target)
    peak, sharpness = tracker._second_look(frame, truth, first_peak, first_sharpness)
    assert np.linalg.norm(first_peak - truth) > 20.0  # the first look took the look-alike
    assert sharpness > first_sharpness
    assert np.linalg.norm(peak - truth) < 2.0


def test_the_second_look_keeps_the_first_peak_when_it_is_the_sharper():
    tracker, frame, truth = _tracker_on_a_jump()
    first = np.array([5.0, 7.0])
    peak, sharpness = tracker._second_look(frame, truth, first, float("inf"))
    assert np.array_equal(peak, first) and sharpness == float("inf")


@pytest.mark.parametrize("second_look, agreement, looks", [(True, 1e-9, 2), (False, 1e-9, 1), (True, 1e6, 1)])
def test_the_filter_looks_twice_only_where_it_disagrees_with_the_classifier(second_look, agreement, looks):
    """``filter_second_look`` acts on the frames ``filter_agreement`` finds ambiguous (at a
    tolerance of 1e-9 sizes every frame, at 1e6 none): one more look there, none elsewhere."""
    frames, gt = synthetic_sequence(n=4, step=(6, 3))
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, filter_agreement=agreement,
                                              filter_second_look=second_look), backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    calls = []
    original = tracker.refiner.locate
    tracker.refiner.locate = lambda *a: (calls.append(1), original(*a))[1]
    results = [tracker.track(f) for f in frames[1:]]
    assert len(calls) == looks * len(results)


@pytest.mark.parametrize("shift, side", [((40.0, 0.0), "classifier"), ((2.0, 0.0), "filter"), (None, None)])
def test_the_flow_arbiter_sides_with_the_choice_the_target_moved_to(shift, side):
    """``gap_flow_arbiter``: of the classifier's choice and the filter's peak, the one
    nearer where the optical flow moves the last box's centre stands; with no trusted flow,
    neither (nothing changes). Without the arbiter the classifier's choice stands."""
    tracker, frame, truth = _tracker_on_a_jump()
    tracker.cfg = tracker.cfg.replace(gap_flow_arbiter=True)
    start = centers(tracker.target[None])[0]
    tracker._shift_since_previous = lambda *a: None if shift is None else np.asarray(shift)
    assert tracker._gap_side(frame, start + (40.0, 0.0), start, 1.0) == side
    tracker.cfg = tracker.cfg.replace(gap_flow_arbiter=False)
    assert tracker._gap_side(frame, start + (40.0, 0.0), start, 1.0) == "classifier"


def test_with_the_flow_on_the_filters_side_only_candidates_near_its_peak_are_ranked():
    """``gap_flow_both_ways``: candidates farther than ``filter_agreement`` sizes from the
    peak are put last, unless fewer than ``top_k`` lie near it."""
    tracker, _, _ = _tracker_on_a_jump()
    start = centers(tracker.target[None])[0]
    size = tracker.target[2:]
    near = np.r_[start - size / 2, size]
    far = np.r_[start + 3 * size - size / 2, size]
    samples = np.vstack([np.tile(near, (tracker.cfg.top_k, 1)), np.tile(far, (3, 1))])
    ranking = torch.cat([torch.zeros(tracker.cfg.top_k), torch.ones(3)])
    kept = tracker._only_near(ranking, samples, start)
    assert set(kept.topk(tracker.cfg.top_k).indices.tolist()) == set(range(tracker.cfg.top_k))
    assert torch.equal(tracker._only_near(ranking[1:], samples[1:], start), ranking[1:])  # too few near


def test_the_flow_arbiter_keeps_the_last_confident_frame():
    frames, gt = synthetic_sequence(n=2, step=(6, 3))
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, gap_flow_arbiter=True), backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    assert np.array_equal(tracker._previous, frames[0])
    tracker.track(frames[1])
    assert np.array_equal(tracker._previous, frames[1])
    plain = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST), backbone=TinyTrunk())
    plain.initialize(frames[0], gt[0])
    assert plain._previous is None


@pytest.mark.parametrize("agreement, gate, teaches", [
    (1e-9, True, False),  # apart on every frame, gated: the classifier learns none of them
    (1e6, True, True),  # they agree: every frame teaches
    (1e-9, False, True),  # off: the agreement gates the filters only
])
def test_a_frame_where_they_disagree_teaches_the_classifier_nothing_when_gated(agreement, gate, teaches):
    """``agreement_gates_classifier``: a confident frame where ``filter_agreement`` finds
    the classifier's own choice and the filter's peak apart collects no samples and
    schedules no update; it is still reported as tracked."""
    frames, gt = synthetic_sequence(n=4, step=(6, 3))
    tracker = DATTracker(TrackerConfig.preset("fast", **SMALL_FAST, filter_agreement=agreement, long_interval=1,
                                              agreement_gates_classifier=gate), backbone=TinyTrunk())
    tracker.initialize(frames[0], gt[0])
    added, scheduled = [], []  # a long-term update is due on every frame that teaches
    original_add, original_schedule = tracker.memory.add, tracker._schedule
    tracker.memory.add = lambda *a: (added.append(1), original_add(*a))[1]
    tracker._schedule = lambda *a, **k: (scheduled.append(1), original_schedule(*a, **k))[1]
    results = [tracker.track(f) for f in frames[1:]]
    assert all(r.state.value == "tracking" for r in results)
    assert len(added) == (len(results) if teaches else 0)
    assert bool(scheduled) == teaches
