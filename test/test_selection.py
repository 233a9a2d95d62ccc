"""Candidate selection: the displacement window (core/selection.py) and its use in track()."""
import numpy as np
import pytest
import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.selection import nearer_group, windowed_ranking
from rl_tracker_ros.core.tracker import DATTracker

from conftest import SMALL_FAST, TinyTrunk, synthetic_sequence

CENTRES = torch.tensor([[0.0, 0.0], [30.0, 0.0], [0.0, 60.0]])


def initialised(n_frames: int, **kw):
    """A fast-profile tracker on TinyTrunk, initialised on a synthetic sequence's first frame."""
    frames, gt = synthetic_sequence(n=n_frames)
    tr = DATTracker(TrackerConfig.preset("fast", **{**SMALL_FAST, **kw}), backbone=TinyTrunk())
    tr.initialize(frames[0], gt[0])
    return tr, frames


def test_no_influence_ranks_by_score_alone():
    scores = torch.tensor([0.1, 0.3, 0.2])
    assert torch.equal(windowed_ranking(scores, CENTRES, torch.zeros(2), 10.0, 0.0), scores)


def test_among_near_equal_scores_the_candidate_nearer_the_last_box_wins():
    scores = torch.tensor([0.20, 0.21, 0.0])  # a distractor 30 px away out-scores the target by a hair
    ranked = windowed_ranking(scores, CENTRES, torch.zeros(2), 10.0, 0.2)
    assert int(ranked.argmax()) == 0
    assert int(scores.argmax()) == 1


def test_a_clearly_better_candidate_wins_however_far_it_moved():
    scores = torch.tensor([0.0, 1.0, 0.1])
    assert int(windowed_ranking(scores, CENTRES, torch.zeros(2), 10.0, 0.4).argmax()) == 1


def test_the_ranking_does_not_depend_on_the_logits_scale():
    scores = torch.tensor([0.20, 0.26, 0.0])
    small = windowed_ranking(scores, CENTRES, torch.zeros(2), 20.0, 0.3)
    large = windowed_ranking(10 * scores + 3, CENTRES, torch.zeros(2), 20.0, 0.3)
    assert torch.allclose(small, large)
    flat = windowed_ranking(torch.full((3,), 0.5), CENTRES, torch.zeros(2), 20.0, 0.3)
    assert torch.isfinite(flat).all() and int(flat.argmax()) == 0  # equal scores: the nearest


def test_window_influence_is_checked():
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="window_influence"):
            TrackerConfig(window_influence=bad)


def test_track_reports_the_score_of_the_candidates_it_chose(monkeypatch):
    """With the window on, the box comes from the top-k by ranking, and the reported score
    (which decides TRACKING) is those candidates' mean score, not the best k scores'."""
    tr, frames = initialised(2, window_influence=0.5, filter_window=0.0, top_k=3)
    seen = {}
    real = tr._scores
    monkeypatch.setattr(tr, "_scores", lambda feats: seen.setdefault("s", real(feats)))
    real_rank = tr._rank
    monkeypatch.setattr(tr, "_rank", lambda *a: seen.setdefault("r", real_rank(*a)))
    result = tr.track(frames[1], learn=False)
    chosen = seen["r"].topk(3).indices
    assert result.score == pytest.approx(float(seen["s"][chosen].mean()), abs=1e-6)
    assert not torch.equal(seen["r"], seen["s"])  # the window changed the ranking values


def test_the_window_widens_with_the_search():
    """After failures or skipped frames the search spreads wider, and so does the window:
    a candidate that out-scores the nearer one by a little loses at the normal spread and
    wins at three times it."""
    tr, _ = initialised(1, window_influence=0.3, filter_window=0.0)
    scores = torch.tensor([0.20, 0.26, 0.0])
    boxes = np.array([tr.target, tr.target + [0.8 * tr.cfg.trans * tr.target[2:].mean(), 0, 0, 0],
                      tr.target + [0, 60, 0, 0]])
    assert int(tr._rank(scores, boxes, tr.cfg.trans).argmax()) == 0
    assert int(tr._rank(scores, boxes, 3 * tr.cfg.trans).argmax()) == 1


TARGET, OTHER = np.array([50.0, 50, 20, 20]), np.array([90.0, 50, 20, 20])
SPLIT = np.stack([OTHER, TARGET, OTHER + [1, 0, 0, 0], TARGET + [1, 1, 0, 0], TARGET - [1, 0, 0, 0]])


def test_a_top_k_on_one_object_is_kept_whole_however_far_it_moved():
    boxes = np.stack([TARGET + [d, 0, 0, 0] for d in (0, 2, -2, 3, 1)])
    assert nearer_group(boxes, TARGET + [200, 0, 0, 0], 0.5).tolist() == [0, 1, 2, 3, 4]


def test_a_top_k_split_over_two_objects_keeps_the_group_nearer_the_last_box():
    """The mean of all five lies between the two objects; each group's mean is on one."""
    assert np.abs(SPLIT.mean(axis=0) - TARGET).max() > 10
    near_target = nearer_group(SPLIT, TARGET + [3, 0, 0, 0], 0.5)
    assert near_target.tolist() == [1, 3, 4]
    assert np.abs(SPLIT[near_target].mean(axis=0) - TARGET).max() < 1
    assert nearer_group(SPLIT, OTHER, 0.5).tolist() == [0, 2]  # the best-scored group, when it is nearer


def test_a_single_stray_candidate_is_no_second_object():
    """Four candidates on the target and one off it: MDNet's mean of all five, even when
    the stray lies nearer the last box."""
    boxes = np.stack([TARGET, TARGET + [1, 0, 0, 0], OTHER, TARGET + [0, 1, 0, 0], TARGET - [1, 0, 0, 0]])
    assert nearer_group(boxes, OTHER, 0.5).tolist() == [0, 1, 2, 3, 4]


def test_split_iou_zero_keeps_mdnets_mean():
    assert nearer_group(SPLIT, TARGET, 0.0).tolist() == [0, 1, 2, 3, 4]


def test_top_k_split_iou_is_checked():
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="top_k_split_iou"):
            TrackerConfig(top_k_split_iou=bad)


def test_track_keeps_the_nearer_group_for_its_box_and_score(monkeypatch):
    """With ``top_k_split_iou`` the next search centres on the kept group's mean box, and
    the reported score (which decides TRACKING) is that group's mean score."""
    import rl_tracker_ros.core.tracker as tracker_module

    tr, frames = initialised(2, top_k_split_iou=0.5, bbreg=False, filter_search_share=0.0, filter_window=0.0)  # one draw, ranked by score
    seen = {}
    real_scores = tr._scores
    monkeypatch.setattr(tr, "_scores", lambda feats: seen.setdefault("s", real_scores(feats)))
    real_gen = tr._generator

    def generator(*a, **kw):  # record the frame's candidates
        draw = real_gen(*a, **kw)
        return lambda *b: seen.setdefault("boxes", draw(*b))

    monkeypatch.setattr(tr, "_generator", generator)
    monkeypatch.setattr(tracker_module, "nearer_group", lambda boxes, last, t: np.array([0, 2]))
    last = tr.target.copy()
    result = tr.track(frames[1], learn=False)
    top = seen["s"].topk(tr.cfg.top_k).indices.numpy()[[0, 2]]
    assert result.score == pytest.approx(float(seen["s"][top].mean()), abs=1e-6)
    expected = seen["boxes"][top].mean(axis=0) if result.score > 0 else last
    np.testing.assert_allclose(tr.target, expected)
