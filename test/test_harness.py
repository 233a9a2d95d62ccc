"""Evaluation harness: VOT/OTB datasets, interleaved runs, resume, reports and plots."""
import json

import cv2
import numpy as np
import pytest

from rl_tracker_ros.evaluation import trackers as T
from rl_tracker_ros.evaluation.harness import run_evaluation
from rl_tracker_ros.evaluation.report import load_results, markdown_table, write_report
from rl_tracker_ros.sequences import load_sequences, parse_vot_lines, polygon_to_box

from conftest import synthetic_sequence


def test_vot_polygon_and_rectangle_lines():
    text = "10,20,30,40\n1,1,5,1,5,4,1,4\n0\nnan,nan,nan,nan\n3.5,2,9.5,3,8.5,7,2.5,6\n"
    b = parse_vot_lines(text)
    np.testing.assert_allclose(b[0], [10, 20, 30, 40])           # VOT boxes are 0-based already
    np.testing.assert_allclose(b[1], [1, 1, 4, 3])               # polygon -> its bounds
    assert np.isnan(b[2]).all() and np.isnan(b[3]).all()         # excluded frames
    np.testing.assert_allclose(b[4], [2.5, 2, 7, 5])             # rotated polygon bounds
    np.testing.assert_allclose(polygon_to_box(np.array([[0, 0, 2, 0, 2, 2, 0, 2]])), [[0, 0, 2, 2]])


def _write_otb(folder, n=5, tab=False):
    frames, gt = synthetic_sequence(n=n)
    (folder / "img").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    sep = "\t" if tab else ","
    (folder / "groundtruth_rect.txt").write_text(
        "\r\n".join(sep.join(str(int(v)) for v in g + [1, 1, 0, 0]) for g in gt) + "\r\n")
    return gt


def _write_vot(folder, n=5):
    frames, gt = synthetic_sequence(n=n, seed=1)
    (folder / "color").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / "color" / f"{i + 1:08d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    lines = [",".join(str(v) for v in [x, y, x + w, y, x + w, y + h, x, y + h]) for x, y, w, h in gt]
    lines[2] = "nan,nan,nan,nan"
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return gt


def test_load_sequences_from_roots_and_folders(tmp_path):
    gt = _write_otb(tmp_path / "root" / "A", tab=True)
    _write_vot(tmp_path / "root" / "B")
    (tmp_path / "root" / "notes").mkdir()
    seqs = load_sequences([tmp_path / "root"])
    assert [s.name for s in seqs] == ["A", "B"]
    np.testing.assert_allclose(seqs[0].groundtruth, gt)
    assert np.isnan(seqs[1].groundtruth[2]).all()
    assert [s.name for s in load_sequences([tmp_path / "root" / "B"])] == ["B"]
    with pytest.raises(ValueError, match="neither"):
        load_sequences([tmp_path / "root" / "notes"])


class Oracle(T.EvalTracker):
    """Reports the ground truth shifted by a fixed offset: known metrics."""

    def __init__(self, name, gt, shift):
        self.name, self.gt, self.shift, self.i = name, gt, shift, 0
        self.stages = {}

    def init(self, frame, box):
        self.i = 0

    def update(self, frame):
        self.i += 1
        self.stages = {"features": 0.001}
        return self.gt[self.i] + [self.shift, 0, 0, 0]


def test_interleaved_run_metrics_resume_and_report(tmp_path, monkeypatch):
    gt = _write_otb(tmp_path / "data" / "S", n=6)
    seqs = load_sequences([tmp_path / "data"])
    calls = []

    def fake_make(spec, base=None, trunks=None):
        calls.append(spec)
        return Oracle(spec, gt, {"exact": 0, "off": 100}[spec])

    monkeypatch.setattr("rl_tracker_ros.evaluation.harness.make_tracker", fake_make)
    res = run_evaluation(seqs, ["exact", "off"], tmp_path / "out", progress=False)
    assert res["exact"]["S"]["auc"] == pytest.approx(20 / 21) and res["exact"]["S"]["precision20"] == 1.0
    assert res["off"]["S"]["auc"] == pytest.approx(1 / 6 * 20 / 21)  # only the init frame overlaps
    assert res["exact"]["S"]["stage_time_s"]["features"] == pytest.approx(0.005)
    boxes = np.loadtxt(tmp_path / "out" / "exact" / "S.txt", delimiter=",")
    np.testing.assert_allclose(boxes, gt)
    # A second run reads the stored results instead of tracking again.
    calls.clear()
    run_evaluation(seqs, ["exact", "off"], tmp_path / "out", progress=False)
    assert calls == []
    # Reports: json, markdown, two plots; comparison across runs without tracking.
    results = load_results([tmp_path / "out"])
    paths = write_report(results, tmp_path / "report")
    assert all(p.exists() for p in paths.values())
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| exact | 0.952 / 1.000 |" in table
    assert json.loads(paths["metrics"].read_text())["summary"]["exact"]["sequences"] == 1
    import shutil

    shutil.copytree(tmp_path / "out", tmp_path / "out2")
    both = load_results([tmp_path / "out", tmp_path / "out2"])
    assert set(both) == {"out/exact", "out2/exact", "out/off", "out2/off"}
    assert "out2/exact" in markdown_table(both)


def test_tracker_specs():
    assert T.dat_config("dat").lam == 5.0 and T.dat_config("dat-lambda0").lam == 0.0
    assert T.folder_name("dat") == "dat-lambda5" and T.folder_name("dat-lambda0") == "dat-lambda0"
    with pytest.raises(ValueError, match="unknown tracker"):
        T.dat_config("siamfc")
    fast = T.dat_config("dat-fast", T.TrackerConfig(device="cpu"))
    assert fast.profile == "fast" and fast.feature_mode == "region" and fast.device == "cpu"
    assert T.dat_config("dat-fast-lambda1").lam == 1.0
    assert T.folder_name("dat-fast") == f"dat-fast-lambda{fast.lam:g}"
    assert T.folder_name("dat-fast-lambda1") == "dat-fast-lambda1"


@pytest.mark.parametrize("name", ["csrt", "kcf", "mil"])
def test_opencv_trackers_follow_a_moving_square(name):
    try:
        tr = T.make_tracker(name)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    frames, gt = synthetic_sequence(n=8)
    tr.init(frames[0], gt[0])
    from rl_tracker_ros.core.boxes import iou

    ious = [iou(tr.update(f), g)[0] for f, g in zip(frames[1:], gt[1:])]
    assert np.mean(ious) > 0.5
