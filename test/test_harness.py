"""Evaluation harness: VOT/OTB datasets, interleaved runs, resume, reports and plots."""
import json

import cv2
import numpy as np

from rl_tracker_ros.core.tracker import TrackResult, TrackState
import pytest

from rl_tracker_ros.evaluation import trackers as T
from rl_tracker_ros.evaluation.harness import ResumeMismatch, run_evaluation
from rl_tracker_ros.evaluation.report import load_results, markdown_table, write_report
from rl_tracker_ros.media.sequences import load_sequences, parse_vot_lines, polygon_to_box

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


def test_load_sequences_from_roots_and_folders(tmp_path, caplog):
    gt = _write_otb(tmp_path / "root" / "A", tab=True)
    _write_vot(tmp_path / "root" / "B")
    (tmp_path / "root" / "notes").mkdir()
    skipped = []
    seqs = load_sequences([tmp_path / "root"], skipped)
    assert [s.name for s in seqs] == ["A", "B"]
    np.testing.assert_allclose(seqs[0].groundtruth, gt)
    assert np.isnan(seqs[1].groundtruth[2]).all()
    assert [s.name for s in load_sequences([tmp_path / "root" / "B"])] == ["B"]
    with pytest.raises(ValueError, match="neither"):
        load_sequences([tmp_path / "root" / "notes"])
    # Nothing is left out silently: the folder that is not a sequence is reported.
    assert [(p.name, "neither" in why) for p, why in skipped] == [("notes", True)]
    assert "skipped" in caplog.text and "notes" in caplog.text


def test_vot_layouts_img_color_and_beside(tmp_path):
    """VOT sequences keep their images in color/, img/ or beside groundtruth.txt."""
    for sub in ("color", "img", "."):
        folder = tmp_path / "root" / f"seq_{sub.strip('.') or 'beside'}"
        gt = _write_vot(folder)
        if sub != "color":
            for p in sorted((folder / "color").iterdir()):
                (folder / sub).mkdir(exist_ok=True)
                p.rename(folder / sub / p.name)
            (folder / "color").rmdir()
        (seq,) = load_sequences([folder])  # named directly
        assert len(seq) == 5 and seq.frames[0].parent.name == (sub if sub != "." else folder.name)
        np.testing.assert_allclose(seq.groundtruth[0], gt[0])
    skipped = []
    assert [s.name for s in load_sequences([tmp_path / "root"], skipped)] == ["seq_beside", "seq_color", "seq_img"]
    assert skipped == []
    # A sequence folder without images is refused when named and reported when in a root.
    (tmp_path / "root" / "empty").mkdir()
    (tmp_path / "root" / "empty" / "groundtruth.txt").write_text("1,1,5,5\n")
    with pytest.raises(ValueError, match="no images in color/, img/ or beside it"):
        load_sequences([tmp_path / "root" / "empty"])
    load_sequences([tmp_path / "root"], skipped)
    assert [p.name for p, _ in skipped] == ["empty"]


class Oracle:
    """Reports the ground truth shifted by a fixed offset: known metrics."""

    def __init__(self, name, gt, shift):
        self.name, self.gt, self.shift, self.i = name, gt, shift, 0

    def initialize(self, frame, box):
        self.i = 0
        return TrackResult(np.asarray(box, float), 0.0, TrackState.TRACKING, 0, 0.0)

    def track(self, frame, *, attention=None, elapsed=1):
        self.i += elapsed
        return TrackResult(self.gt[self.i] + [self.shift, 0, 0, 0], 1.0, TrackState.TRACKING, self.i, 0.0,
                           stages={"features": 0.001})


def test_interleaved_run_metrics_resume_and_report(tmp_path, capsys):
    gt = _write_otb(tmp_path / "data" / "S", n=6)
    seqs = load_sequences([tmp_path / "data"])
    calls = []

    def fake_make(spec, trunks=None):
        calls.append(spec.name)
        return Oracle(spec.name, gt, {"kcf": 0, "mil": 100}[spec.name])

    specs = T.parse_specs("kcf,mil")
    res = run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make).results
    assert res["kcf"]["S"]["auc"] == pytest.approx(20 / 21) and res["kcf"]["S"]["precision20"] == 1.0
    assert res["mil"]["S"]["auc"] == pytest.approx(1 / 6 * 20 / 21)  # only the init frame overlaps
    assert res["kcf"]["S"]["stage_time_s"]["features"] == pytest.approx(0.005)
    assert res["kcf"]["S"]["frames_processed"] == 6 and res["kcf"]["S"]["frames_skipped"] == 0
    boxes = np.loadtxt(tmp_path / "out" / "kcf" / "S.txt", delimiter=",")
    np.testing.assert_allclose(boxes, gt)
    # A second run reads the stored results instead of tracking again.
    calls.clear()
    run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)
    assert calls == []
    # Reports: json, markdown, two plots; comparison across runs without tracking.
    results = load_results([tmp_path / "out"])
    paths = write_report(results, tmp_path / "report")
    assert all(p.exists() for p in paths.values())
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| kcf | offline | 0.952 / 1.000 |" in table
    assert json.loads(paths["metrics"].read_text())["summary"]["kcf"]["sequences"] == 1
    import shutil

    shutil.copytree(tmp_path / "out", tmp_path / "out2")
    both = load_results([tmp_path / "out", tmp_path / "out2"])
    assert set(both) == {"out/kcf", "out2/kcf", "out/mil", "out2/mil"}
    table = markdown_table(both)
    assert "out2/kcf" in table
    assert "| kcf | 2 | 0.952 ± 0.000 (0.952–0.952) | 1.000 ± 0.000 |" in table  # over repeated runs
    assert "Over repeated runs" not in markdown_table(results)
    seeds = {"kcf": results["kcf"], "kcf+seed=1": results["mil"]}  # one tracker, two seeds
    assert "| kcf | 2 | 0.556 ± 0.561" in markdown_table(seeds)
    # A results folder kept inside another is named and left out, not read as a tracker.
    shutil.copytree(tmp_path / "report", tmp_path / "out" / "nested_run")
    assert set(load_results([tmp_path / "out"])) == {"kcf", "mil"}
    assert "nested_run is a results folder" in capsys.readouterr().err
    # Another JSON beside the scores (a diagnostic's, a damaged one) is named and left out.
    (tmp_path / "out" / "kcf" / "scale_probe.json").write_text(json.dumps({"rows": []}))
    (tmp_path / "out" / "kcf" / "T.json").write_text('{"auc": 0.5, "fra')
    again = load_results([tmp_path / "out"])
    assert set(again) == {"kcf", "mil"} and set(again["kcf"]) == {"S"}
    err = capsys.readouterr().err
    assert "scale_probe.json holds no sequence's scores" in err and "T.json is not readable JSON" in err


def test_a_failing_sequence_is_reported_and_the_others_still_run(tmp_path):
    _write_otb(tmp_path / "data" / "A", n=4)
    gt = _write_otb(tmp_path / "data" / "B", n=4)
    seqs = load_sequences([tmp_path / "data"])

    def fake_make(spec, trunks=None):
        return Oracle(spec.name, gt, 0)

    seqs[0].groundtruth[:] = np.nan  # A has no valid box to start from
    run = run_evaluation(seqs, T.parse_specs("kcf"), tmp_path / "out", progress=False, tracker_factory=fake_make)
    assert set(run.failed) == {"A"} and "no valid ground-truth box" in run.failed["A"]
    assert "Traceback" in run.failed["A"]
    assert set(run.results["kcf"]) == {"B"}


def test_tracker_specs():
    assert T.TrackerSpec.parse("dat").config().lam == 5.0 and T.TrackerSpec.parse("dat-lambda0").config().lam == 0.0
    assert T.TrackerSpec.parse("dat").folder() == "dat-lambda5" and T.TrackerSpec.parse("dat-lambda0").folder() == "dat-lambda0"
    with pytest.raises(ValueError, match="unknown tracker"):
        T.parse_specs("siamfc")
    (fast,) = T.parse_specs("dat-fast", {"device": "cpu"})
    cfg = fast.config()
    assert cfg.profile == "fast" and cfg.feature_mode == "region" and cfg.device == "cpu"
    assert fast.folder() == f"dat-fast-lambda{cfg.lam:g}+device=cpu"
    assert T.TrackerSpec.parse("dat-fast-lambda1").config().lam == 1.0
    assert T.TrackerSpec.parse("dat-fast").folder() == f"dat-fast-lambda{cfg.lam:g}"
    assert T.TrackerSpec.parse("dat-fast-lambda1").folder() == "dat-fast-lambda1"
    with pytest.raises(ValueError, match="same tracker twice"):
        T.parse_specs("dat,dat-lambda5")


def test_every_override_applies_and_names_its_folder(tmp_path):
    # An override equal to the paper default is not dropped on a preset.
    # (bbreg_features trunk is the paper's: the fast profile's mid needs region features.)
    (crops,) = T.parse_specs("dat-fast", {"feature_mode": "crops", "bbreg_features": "trunk"})
    assert crops.config().feature_mode == "crops" and crops.config().profile == "fast"
    assert crops.folder() == "dat-fast-lambda0+bbreg_features=trunk+feature_mode=crops"
    assert crops.folder() != T.TrackerSpec.parse("dat-fast").folder()
    # An override that changes nothing names the same folder (same config, same results).
    (noop,) = T.parse_specs("dat-fast", {"feature_mode": "region"})
    assert noop.folder() == "dat-fast-lambda0" and noop.record() == T.TrackerSpec.parse("dat-fast").record()
    # dat@config.yaml gets the overrides too.
    yml = tmp_path / "tiny.yaml"
    yml.write_text("profile: fast\nn_samples: 32\n")
    (mine,) = T.parse_specs(f"dat@{yml}", {"device": "cpu", "allow_random_backbone": True, "weights": "/w",
                                           "n_samples": 48})
    cfg = mine.config()
    assert (cfg.device, cfg.allow_random_backbone, cfg.weights, cfg.n_samples, cfg.profile) == \
        ("cpu", True, "/w", 48, "fast")
    assert mine.folder().startswith("dat-tiny+")
    assert mine.record()["config"]["n_samples"] == 48
    # Long or path-like overrides are named by a digest, never by an unsafe folder name.
    assert "/" not in mine.folder()
    # lam and profile come from the tracker name, not from overrides.
    with pytest.raises(ValueError, match="set by the tracker name"):
        T.parse_specs("dat-lambda0", {"lam": 5})
    with pytest.raises(ValueError, match="unknown tracker config keys"):
        T.parse_specs("dat", {"no_such_key": 1})


def test_resuming_with_another_config_is_refused(tmp_path):
    gt = _write_otb(tmp_path / "data" / "S", n=4)
    seqs = load_sequences([tmp_path / "data"])

    def fake_make(spec, trunks=None):
        return Oracle(spec.name, gt, 0)

    yml = tmp_path / "mine.yaml"
    yml.write_text("n_samples: 64\n")
    specs = T.parse_specs(f"dat@{yml}")
    run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)
    yml.write_text("n_samples: 128\n")  # same name and folder, other settings
    specs = T.parse_specs(f"dat@{yml}")
    with pytest.raises(ResumeMismatch, match=r"n_samples: stored 64, asked 128.*--rerun"):
        run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)
    run_evaluation(seqs, specs, tmp_path / "out", resume=False, progress=False, tracker_factory=fake_make)
    stored = json.loads((tmp_path / "out" / "dat-mine" / "S.json").read_text())
    assert stored["tracker"]["config"]["n_samples"] == 128
    # A result that records no configuration (an older version's) is not trusted either.
    del stored["tracker"]
    (tmp_path / "out" / "dat-mine" / "S.json").write_text(json.dumps(stored))
    with pytest.raises(ResumeMismatch, match="records no tracker configuration"):
        run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)


def test_a_key_added_since_counts_as_its_default_only(tmp_path):
    """Results stored before a config key existed resume when the key is asked at its
    default (the behaviour they were made with), and are refused at any other value."""
    gt = _write_otb(tmp_path / "data" / "S", n=4)
    seqs = load_sequences([tmp_path / "data"])

    def fake_make(spec, trunks=None):
        return Oracle(spec.name, gt, 0)

    specs = T.parse_specs("dat")
    run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)
    path = next((tmp_path / "out").glob("dat*/S.json"))
    stored = json.loads(path.read_text())
    assert stored["tracker"]["config"]["redetect"] is False
    del stored["tracker"]["config"]["redetect"]  # as an older version wrote it
    path.write_text(json.dumps(stored))
    run_evaluation(seqs, specs, tmp_path / "out", progress=False, tracker_factory=fake_make)
    yml = tmp_path / "on.yaml"
    yml.write_text("redetect: true\n")
    (tmp_path / "out" / "dat-on").mkdir()
    (tmp_path / "out" / "dat-on" / "S.json").write_text(json.dumps(stored))
    with pytest.raises(ResumeMismatch, match=r"redetect: stored None, asked True"):
        run_evaluation(seqs, T.parse_specs(f"dat@{yml}"), tmp_path / "out", progress=False,
                       tracker_factory=fake_make)


@pytest.mark.parametrize("name", ["csrt", "kcf", "mil"])
def test_opencv_trackers_follow_a_moving_square(name):
    from rl_tracker_ros.core.interface import Tracker

    tr = T.make_tracker(T.TrackerSpec.parse(name))  # the set-up installs opencv-contrib: no skip
    assert isinstance(tr, Tracker)
    frames, gt = synthetic_sequence(n=8)
    tr.initialize(frames[0], gt[0])
    from rl_tracker_ros.core.boxes import iou

    results = [tr.track(f) for f in frames[1:]]
    ious = [iou(r.box, g)[0] for r, g in zip(results, gt[1:])]
    assert np.mean(ious) > 0.5
    assert all(r.state.value == "tracking" for r in results) and np.isnan(results[0].score)


def test_a_spec_is_its_fields_parsed_once():
    spec = T.TrackerSpec.parse("dat-fast-lambda1", (("seed", 2), ("device", "cpu")))
    assert (spec.name, spec.profile, spec.lam, spec.seed, spec.overrides) == (
        "dat-fast-lambda1", "fast", 1.0, 2, (("device", "cpu"),))
    assert spec.config().seed == 2 and spec.folder() == "dat-fast-lambda1+device=cpu+seed=2"
    assert T.TrackerSpec.parse("csrt").opencv and T.TrackerSpec("kcf").opencv
    with pytest.raises(ValueError, match="TrackerSpec.parse"):
        T.TrackerSpec("dat-fast")
