"""The rl-tracker command: run on a folder of frames, weights import and list."""
import json

import cv2
import numpy as np
import pytest

from rl_tracker_ros.tools import cli
from rl_tracker_ros.core import weights as W

from conftest import synthetic_sequence
from test_weights import write_mdnet_pth


def _write_frames(folder, n=4):
    frames, gt = synthetic_sequence(n=n)
    (folder / "img").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    np.savetxt(folder / "groundtruth_rect.txt", gt + [1, 1, 0, 0], fmt="%d", delimiter=",")
    return gt


FAST = ["--set", "n_neg_init=200", "--set", "n_pos_init=50", "--set", "iters_init=3", "--set", "n_bbreg=100",
        "--set", "n_samples=32", "--set", "iters_update=1", "--set", "batch_neg_cand=64", "--lam", "0",
        "--device", "cpu", "--quiet", "--random-backbone"]


def test_run_writes_boxes_video_and_summary(tmp_path, capsys):
    gt = _write_frames(tmp_path / "seq")
    out, video = tmp_path / "boxes.txt", tmp_path / "out.mp4"
    rc = cli.main(["run", str(tmp_path / "seq"), "--out", str(out), "--video", str(video), "--attention", *FAST])
    assert rc == 0
    boxes = np.loadtxt(out, delimiter=",")
    assert boxes.shape == (4, 4)
    np.testing.assert_allclose(boxes[0], gt[0])  # frame 0 is the (0-based) init box
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 4 and "auc" in summary and summary["fps"] > 0


def test_run_with_the_fast_profile(tmp_path, capsys):
    _write_frames(tmp_path / "seq", n=3)
    out = tmp_path / "boxes.txt"
    assert cli.main(["run", str(tmp_path / "seq"), "--profile", "fast", "--out", str(out), *FAST]) == 0
    assert np.loadtxt(out, delimiter=",").shape == (3, 4)
    args = cli.build_parser().parse_args(["run", "x", "--profile", "fast", "--set", "n_samples=48"])
    cfg = cli._config_from_args(args)
    assert cfg.profile == "fast" and cfg.feature_mode == "region" and cfg.n_samples == 48


def test_run_with_explicit_box_on_an_image_glob(tmp_path):
    _write_frames(tmp_path / "seq")
    out = tmp_path / "b.txt"
    rc = cli.main(["run", str(tmp_path / "seq" / "img" / "*.jpg"), "--box", "10,12,20,20", "--out", str(out),
                   "--one-based", *FAST])
    assert rc == 0
    np.testing.assert_allclose(np.loadtxt(out, delimiter=",")[0], [11, 13, 20, 20])


def test_run_errors_are_reported_not_raised(tmp_path, capsys):
    _write_frames(tmp_path / "seq")
    assert cli.main(["run", str(tmp_path / "seq"), "--box", "900,900,5,5", *FAST]) == 2
    assert "outside" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "seq"), "--device", "cpu", "--quiet"]) == 2  # no weights
    assert "rl-tracker weights download" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", str(tmp_path / "seq"), "--box", "1,2,3"])


def test_weights_import_and_list(tmp_path, capsys):
    write_mdnet_pth(tmp_path / "m.pth")
    assert cli.main(["weights", "import", str(tmp_path / "m.pth")]) == 0
    assert W.cache_path("mdnet").exists()
    assert cli.main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "mdnet" in listing and "cached" in listing and "mobilenet" in listing
    assert cli.main(["weights", "import"]) == 2
