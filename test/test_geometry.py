"""IoU, sample generators, crops and bounding-box regression."""
import numpy as np
import pytest
import torch

from rl_tracker_ros.core.bbreg import BBoxRegressor, apply_deltas, box_deltas
from rl_tracker_ros.core.boxes import iou, validate_box
from rl_tracker_ros.core.crops import extract_crops, frame_to_tensor, paste_map
from rl_tracker_ros.core.sampling import SampleGenerator, draw_samples


def test_iou_known_values():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10])[0] == pytest.approx(1.0)
    assert iou([0, 0, 10, 10], [5, 0, 10, 10])[0] == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 5, 5])[0] == 0.0
    assert iou([0, 0, 10, 10], [2, 2, 4, 4])[0] == pytest.approx(16 / 100)
    np.testing.assert_allclose(iou([[0, 0, 10, 10], [5, 5, 10, 10]], [0, 0, 10, 10]), [1.0, 25 / 175])


@pytest.mark.parametrize("bad, reason", [
    ([1, 2, 3], "4 numbers"), ([0, 0, np.nan, 5], "NaN"), ([0, 0, -1, 5], "non-positive"),
    ([0, 0, 0, 5], "non-positive"), ([500, 10, 5, 5], "outside"), ([-20, 10, 5, 5], "outside")])
def test_validate_box_rejects_with_reasons(bad, reason):
    with pytest.raises(ValueError, match=reason):
        validate_box(bad, (100, 200, 3))


def test_validate_box_accepts_partially_visible():
    np.testing.assert_array_equal(validate_box([-5, -5, 20, 20], (100, 200, 3)), [-5, -5, 20, 20])


def test_gaussian_generator_spread_and_clipping():
    rng = np.random.default_rng(0)
    gen = SampleGenerator("gaussian", (640, 480), trans=0.6, scale=1.05)
    s = gen([300, 200, 40, 60], 4000, rng)
    c = s[:, :2] + s[:, 2:] / 2
    # clip(0.5 N(0,1), -1, 1) * 0.6 * mean(w, h) = at most 30 px from the centre.
    assert np.abs(c - [320, 230]).max() <= 30 + 1e-9
    assert np.std(c[:, 0]) == pytest.approx(0.6 * 50 * 0.5, rel=0.1)
    ratio = s[:, 2] / 40
    assert ratio.min() >= 1.05 ** -1 - 1e-9 and ratio.max() <= 1.05 + 1e-9
    np.testing.assert_allclose(s[:, 2] / s[:, 3], 40 / 60)  # no aspect change without ``aspect``


def test_whole_generator_covers_the_image():
    rng = np.random.default_rng(1)
    s = SampleGenerator("whole", (320, 240), scale=1.6)([100, 100, 30, 30], 500, rng)
    c = s[:, :2] + s[:, 2:] / 2
    assert c[:, 0].min() < 40 and c[:, 0].max() > 280 and c[:, 1].min() < 40 and c[:, 1].max() > 200


def test_draw_samples_respects_overlap():
    rng = np.random.default_rng(2)
    box = [100, 80, 50, 40]
    pos = draw_samples(SampleGenerator("gaussian", (400, 300), 0.1, 1.3), box, 500, rng, (0.7, 1.0))
    neg = draw_samples(SampleGenerator("uniform", (400, 300), 1.0, 1.6), box, 300, rng, (0.0, 0.5))
    assert len(pos) == 500 and len(neg) == 300
    assert iou(pos, box).min() >= 0.7 and iou(neg, box).max() <= 0.5


def test_crops_match_the_region_and_pad_with_grey():
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:, :, 0] = np.arange(80, dtype=np.uint8)[None, :] * 3
    frame[:, :, 1] = np.arange(60, dtype=np.uint8)[:, None] * 4
    ft = frame_to_tensor(frame, torch.device("cpu"))
    # padding 0, a 20x20 box read at 20x20 is an exact copy.
    c = extract_crops(ft, np.array([[10, 5, 20, 20]]), 20, 0)
    np.testing.assert_array_equal(c[0].permute(1, 2, 0).numpy(), frame[5:25, 10:30])
    # A box hanging off the left edge reads 128 outside the frame.
    c = extract_crops(ft, np.array([[-20, 5, 20, 20]]), 20, 0)
    assert (c[0, 2] == 128).all() and (c[0, 0] == 128).all()
    # Many boxes in one call give the same crops as one at a time.
    boxes = np.array([[3.5, 2.2, 30, 21], [40, 30, 12, 25], [0, 0, 80, 60]])
    batched = extract_crops(ft, boxes, 31, 4)
    for i, b in enumerate(boxes):
        assert torch.equal(batched[i], extract_crops(ft, b[None], 31, 4)[0])


def test_paste_map_puts_crop_content_back_in_place():
    box = np.array([40.0, 30.0, 30.0, 20.0])
    crop_map = np.ones((107, 107), np.float32)
    m = paste_map(crop_map, box, 107, 16, (120, 160))
    # The crop covers the box enlarged by 107/75 around its centre (55, 40).
    assert m[40, 55] == pytest.approx(1.0) and m[5, 5] == 0.0
    ys, xs = np.nonzero(m > 0.5)
    assert xs.min() == pytest.approx(55 - 15 * 107 / 75, abs=1.5)
    assert xs.max() == pytest.approx(55 + 15 * 107 / 75, abs=1.5)


def test_box_deltas_round_trip():
    s = np.array([[10, 10, 20, 30], [5, 7, 40, 10]], float)
    t = np.array([12, 9, 25, 28], float)
    np.testing.assert_allclose(apply_deltas(s, box_deltas(s, t)), np.tile(t, (2, 1)))


def test_ridge_regressor_recovers_linear_offsets():
    rng = np.random.default_rng(0)
    target = np.array([50.0, 40.0, 30.0, 20.0])
    samples = target + rng.normal(0, 3, (400, 4))
    deltas = box_deltas(samples, target)
    proj = rng.normal(size=(4, 64))
    feats = torch.tensor(deltas @ proj + rng.normal(0, 1e-3, (400, 64)))
    reg = BBoxRegressor(alpha=1e-3)
    reg.fit(feats, samples, target)
    pred = reg.predict(feats[:10], samples[:10])
    np.testing.assert_allclose(pred, np.tile(target, (10, 1)), atol=0.05)
    # The dual (n < d) solution equals the primal one.
    reg2 = BBoxRegressor(alpha=1e-3)
    reg2.fit(feats[:40], samples[:40], target)
    x = feats[:40].double() - feats[:40].double().mean(0)
    y = torch.tensor(deltas[:40]) - torch.tensor(deltas[:40]).mean(0)
    primal = torch.linalg.solve(x.T @ x + 1e-3 * torch.eye(64, dtype=torch.float64), x.T @ y)
    assert torch.allclose(reg2.weight, primal, atol=1e-6)
