"""Ground-truth parsing, frame sources and the OTB metrics on hand-made boxes."""
import numpy as np
import pytest

from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.media.sequences import load_otb, open_input, parse_box_lines

from conftest import SEQUENCES, needs_shared


def test_parse_comma_tab_space_crlf_one_based():
    text = "11,21,30,40\r\n12\t22\t30\t40\r\n13 23 30 40\r\nNaN,NaN,NaN,NaN\r\n"
    b = parse_box_lines(text)
    np.testing.assert_array_equal(b[:3], [[10, 20, 30, 40], [11, 21, 30, 40], [12, 22, 30, 40]])
    assert np.isnan(b[3]).all()


def test_metrics_known_answers():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [30, 0, 10, 10], [0, 0, 10, 10]], float)
    s = evaluate(pred, gt)
    # IoUs 1, 1/3, 0, 1; centre errors 0, 5, 30, 0.
    assert s.success_curve[0] == 0.75          # IoU > 0
    assert s.success_curve[6] == 0.75 and s.success_curve[7] == 0.5
    assert s.success_curve[20] == 0.0          # IoU > 1 never
    assert s.auc == pytest.approx(np.mean(s.success_curve))
    assert s.precision20 == 0.75 and s.center_error == pytest.approx(35 / 4)
    assert s.success50 == 0.5 and s.frames == 4


def test_metrics_exclude_frames_without_ground_truth():
    gt = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 0, 0]], float)
    pred = np.array([[0, 0, 10, 10], [50, 50, 1, 1], [50, 50, 1, 1]], float)
    s = evaluate(pred, gt)
    assert s.frames == 1 and s.auc == pytest.approx(20 / 21) and s.precision20 == 1.0


def test_open_input_forms(tmp_path):
    import cv2

    img = tmp_path / "seq" / "img"
    img.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(img / f"{i + 1:04d}.jpg"), np.full((20, 30, 3), i * 40, np.uint8))
    (tmp_path / "seq" / "groundtruth_rect.txt").write_text("1,1,5,5\n2,2,5,5\n3,3,5,5\n")
    s = open_input(str(tmp_path / "seq"))
    assert len(s) == 3 and s.groundtruth[0].tolist() == [0, 0, 5, 5]
    frames = list(s)
    assert frames[0].shape == (20, 30, 3) and frames[0].dtype == np.uint8
    assert len(open_input(str(img / "*.jpg"))) == 3
    with pytest.raises(ValueError, match="not an OTB"):
        open_input(str(tmp_path / "nothing*.xyz"))


@needs_shared(SEQUENCES)
def test_all_shared_sequences_load():
    for folder in sorted(p for p in SEQUENCES.iterdir() if p.is_dir()):
        s = load_otb(folder)
        assert len(s) == len(s.groundtruth) and np.isfinite(s.groundtruth).all()
