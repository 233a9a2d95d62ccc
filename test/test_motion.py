"""The optical-flow search prior (core/motion.py) and the tracker's use of it."""
import numpy as np
import pytest

from rl_tracker_ros.core import tracker as tracker_module
from rl_tracker_ros.core.boxes import iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.motion import flow_shift
from rl_tracker_ros.core.tracker import DATTracker

from conftest import SMALL_FAST, TinyTrunk, synthetic_sequence


def smooth_texture(size, seed=0):
    """A smooth random RGB texture (W, H), the kind of image Lucas-Kanade can follow."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = size
    noise = rng.random((h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    return (255 * cv2.resize(noise, (w + 16, h + 16), interpolation=cv2.INTER_CUBIC).clip(0, 1)).astype(np.uint8)


def textured_sequence(n, size, step, box=(60, 40, 24, 30)):
    """A smoothly textured target moving over a darker smooth background, with its ground
    truth (the stripes of ``synthetic_sequence`` repeat every 4-5 px, which no flow can
    follow over a 30 px jump)."""
    background = smooth_texture(size, seed=1) // 3
    patch = 128 + smooth_texture((box[2], box[3]), seed=2)[:box[3], :box[2]] // 2
    frames, gts = [], []
    for i in range(n):
        x, y = box[0] + step[0] * i, box[1] + step[1] * i
        frame = background[:size[1], :size[0]].copy()
        frame[y:y + box[3], x:x + box[2]] = patch
        frames.append(frame)
        gts.append([x, y, box[2], box[3]])
    return frames, np.array(gts, dtype=np.float64)


@pytest.mark.parametrize("shift", [(7, -4), (-15, 9), (0, 0)])
def test_flow_measures_how_far_the_box_content_moved(shift):
    big = smooth_texture((320, 240))
    dx, dy = shift
    before = np.ascontiguousarray(big[16:16 + 200, 16:16 + 280])
    after = np.ascontiguousarray(big[16 - dy:16 - dy + 200, 16 - dx:16 - dx + 280])
    got = flow_shift(before, after, np.array([110.0, 70.0, 50.0, 40.0]), reach=2.0)
    assert got is not None
    assert np.allclose(got, shift, atol=0.5), got


def test_flow_is_not_trusted_without_texture_or_on_frames_that_do_not_match():
    flat = np.full((120, 160, 3), 128, np.uint8)
    box = np.array([60.0, 40.0, 24.0, 30.0])
    assert flow_shift(flat, flat, box, reach=2.0) is None
    textured = smooth_texture((160, 120))
    assert flow_shift(textured, textured[:100], box, reach=2.0) is None  # sizes differ
    assert flow_shift(textured, textured, np.array([400.0, 300.0, 20.0, 20.0]), reach=2.0) is None  # off the frame


@pytest.mark.parametrize("through_the_filter", [False, True])
def test_flow_finds_a_target_that_jumped_beyond_the_search_when_the_tracker_is_not_told(through_the_filter):
    # 6 px a frame, every 5th frame tracked and elapsed not passed: the target jumps 30 px,
    # beyond the candidate spread (0.6 x 27 px at most). The flow moves the search there:
    # the candidates directly, or (filter_search_flow) the filter's look, whose peak leads them.
    frames, gt = textured_sequence(n=26, size=(320, 240), step=(6, 0))
    kept = list(range(0, 26, 5))
    result = {}
    for flow in (False, True):
        tr = DATTracker(TrackerConfig.preset("fast", flow_search="always" if flow else "never",
                                             filter_search_flow=through_the_filter, **SMALL_FAST), backbone=TinyTrunk())
        tr.initialize(frames[0], gt[0])
        result[flow] = [iou(tr.track(frames[i]).box, gt[i])[0] for i in kept[1:]]
    assert np.mean(result[True]) > 0.5, np.round(result[True], 2)
    assert np.mean(result[True]) > np.mean(result[False]) + 0.2, (result[False], result[True])


def test_an_untrusted_flow_leaves_the_search_as_it_was(monkeypatch):
    frames, gt = synthetic_sequence(n=8)
    monkeypatch.setattr(tracker_module, "flow_shift", lambda *a, **k: None)
    boxes = {}
    for flow in (False, True):
        tr = DATTracker(TrackerConfig.preset("fast", flow_search="always" if flow else "never", **SMALL_FAST), backbone=TinyTrunk())
        tr.initialize(frames[0], gt[0])
        boxes[flow] = [tr.track(f).box for f in frames[1:]]
    assert np.array_equal(np.array(boxes[False]), np.array(boxes[True]))


@pytest.mark.parametrize("through_the_filter", [False, True])
def test_after_a_gap_the_flow_moves_the_filters_look_or_the_candidates(monkeypatch, through_the_filter):
    """``flow_search: dropped`` measures the flow only after a gap (elapsed > 1). With
    ``filter_search_flow`` the translation filter then looks about the last box moved by it
    and the candidates follow the filter's peak; without, the filter looks about the last
    box and the candidates follow the flow."""
    monkeypatch.setattr(tracker_module, "flow_shift", lambda *a, **k: (7.0, -3.0))
    frames, gt = synthetic_sequence(n=3)
    tr = DATTracker(TrackerConfig.preset("fast", flow_search="dropped", filter_search_flow=through_the_filter,
                                         **SMALL_FAST), backbone=TinyTrunk())
    tr.initialize(frames[0], gt[0])
    looked, led = [], []
    locate, candidates = tr.refiner.locate, tr._candidates
    tr.refiner.locate = lambda frame, box: (looked.append((np.array(box), tr.target.copy())), locate(frame, box))[1]
    tr._candidates = lambda frame, spread, flow, peak=None: (led.append(flow), candidates(frame, spread, flow, peak))[1]
    tr.track(frames[1])             # no gap: no flow
    tr.track(frames[2], elapsed=3)  # a gap
    assert np.array_equal(looked[0][0], looked[0][1]) and led[0] is None
    moved = looked[1][1] + np.array([7.0, -3.0, 0.0, 0.0])
    if through_the_filter:
        assert np.allclose(looked[1][0], moved) and led[1] is None
    else:
        assert np.array_equal(looked[1][0], looked[1][1]) and np.allclose(led[1], [7.0, -3.0])


@pytest.mark.parametrize("min_gap, flowed", [(2, [False, True, True]), (3, [False, False, True]), (5, [False, False, False])])
def test_dropped_measures_the_flow_only_after_a_gap_of_flow_min_gap(monkeypatch, min_gap, flowed):
    """``flow_search: dropped`` measures the flow on a frame ``flow_min_gap`` or more frame
    intervals after the last one taken (frames 1, 3 and 6 here: gaps of 1, 2 and 3)."""
    calls = []
    monkeypatch.setattr(tracker_module, "flow_shift", lambda *a, **k: calls.append(1))
    frames, gt = synthetic_sequence(n=7)
    tr = DATTracker(TrackerConfig.preset("fast", flow_search="dropped", flow_min_gap=min_gap, **SMALL_FAST),
                    backbone=TinyTrunk())
    tr.initialize(frames[0], gt[0])
    seen = []
    for index, gap in ((1, 1), (3, 2), (6, 3)):
        before = len(calls)
        tr.track(frames[index], elapsed=gap)
        seen.append(len(calls) > before)
    assert seen == flowed


def test_the_flow_reads_a_copy_of_the_last_frame(monkeypatch):
    seen = []
    monkeypatch.setattr(tracker_module, "flow_shift", lambda prev, cur, box, reach: seen.append(prev.copy()))
    frames, gt = synthetic_sequence(n=3)
    tr = DATTracker(TrackerConfig.preset("fast", flow_search="always", **SMALL_FAST), backbone=TinyTrunk())
    first = frames[0].copy()
    tr.initialize(frames[0], gt[0])
    frames[0][:] = 0  # a driver reusing its buffer
    tr.track(frames[1])
    assert np.array_equal(seen[0], first)


def test_flow_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="flow_share"):
        TrackerConfig.preset("fast", flow_share=1.5)
    with pytest.raises(ValueError, match="flow_min_gap"):
        TrackerConfig.preset("fast", flow_min_gap=0)
    with pytest.raises(ValueError, match="flow_search must be never, always or dropped"):
        TrackerConfig.preset("fast", flow_search="sometimes")
    path = tmp_path / "flow.yaml"
    path.write_text("profile: fast\nflow_search: dropped\n")
    assert TrackerConfig.from_yaml(path).flow_search == "dropped"
    path.write_text("profile: fast\nflow_search: off\n")  # YAML reads a bare off as false
    with pytest.raises(ValueError, match="flow_search must be a string"):
        TrackerConfig.from_yaml(path)
