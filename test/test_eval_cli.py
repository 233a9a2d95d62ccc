"""``rl-tracker eval`` and ``rl-tracker report`` end to end on a short clip: our tracker
through the real ``DATTracker`` (a shared random trunk) beside an OpenCV tracker,
offline and in real time, resume and ``--rerun``, ``--profile``, ``dat@config.yaml``,
parallel jobs (identical to a serial run) and a local Ray instance."""
import json

import cv2
import numpy as np
import pytest

from rl_tracker_ros.tools import cli
from rl_tracker_ros.evaluation import harness
from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.media.sequences import load_sequences

from conftest import synthetic_sequence

# Our tracker, made small enough for a test (crops mode: the paper's per-box features).
TINY_YAML = """profile: paper
lam: 0
n_pos_init: 40
n_neg_init: 120
iters_init: 3
n_bbreg: 30
n_samples: 24
batch_neg_cand: 64
iters_update: 1
n_pos_update: 10
n_neg_update: 20
"""
COMMON = ["--random-backbone", "--device", "cpu", "--quiet"]


def _write_clip(folder, n=6, seed=0):
    frames, gt = synthetic_sequence(n=n, seed=seed)
    (folder / "img").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    np.savetxt(folder / "groundtruth_rect.txt", gt + [1, 1, 0, 0], fmt="%d", delimiter=",")
    return gt


@pytest.fixture
def data(tmp_path):
    _write_clip(tmp_path / "data" / "clipA", seed=0)
    _write_clip(tmp_path / "data" / "clipB", seed=1)
    (tmp_path / "data" / "not_a_sequence").mkdir()
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    return tmp_path


def test_eval_offline_and_realtime_then_report_side_by_side(data, capsys, monkeypatch):
    out = data / "out"
    trackers = f"dat@{data / 'tiny.yaml'},csrt"
    built = []
    real_make = harness.make_tracker

    def counting_make(spec, trunks=None):
        t = real_make(spec, trunks)
        built.append((spec.text, trunks))
        return t

    monkeypatch.setattr(harness, "make_tracker", counting_make)
    rc = cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(out), "--profile", *COMMON])
    assert rc == 0
    text = capsys.readouterr().out
    assert "skipped " in text and "not_a_sequence" in text  # nothing left out silently
    assert "dat-tiny+" in text and "csrt" in text
    assert any(line.startswith("dat-tiny+") and "(of " in line for line in text.splitlines())  # --profile
    folder = next(p for p in out.iterdir() if p.name.startswith("dat-tiny+"))
    stored = json.loads((folder / "clipA.json").read_text())
    assert stored["tracker"]["config"]["n_samples"] == 24 and stored["tracker"]["config"]["device"] == "cpu"
    assert stored["mode"]["kind"] == "offline" and stored["frames_processed"] == 6
    assert "stage_time_per_frame_s" in stored  # --profile
    # The stored AUC is what an independent scoring of the written boxes gives.
    seq = load_sequences([data / "data" / "clipA"])[0]
    boxes = np.loadtxt(folder / "clipA.txt", delimiter=",")
    assert evaluate(boxes, seq.groundtruth).auc == pytest.approx(stored["auc"], abs=1e-6)
    # One trunk shared by our tracker on both clips.
    trunk_dicts = [t for name, t in built if name.startswith("dat@")]
    assert len(trunk_dicts) == 2 and len(trunk_dicts[0]) == 1 and trunk_dicts[0] is trunk_dicts[1]

    # Resume: nothing is tracked again; --rerun tracks again.
    built.clear()
    assert cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(out), *COMMON]) == 0
    assert built == []
    assert cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(out), "--rerun",
                     "--sequences", "clipB", *COMMON]) == 0
    assert [n for n, _ in built] == [f"dat@{data / 'tiny.yaml'}", "csrt"]
    # Another setting under the same folder is refused with the reason, not mixed in.
    (data / "tiny.yaml").write_text(TINY_YAML.replace("n_samples: 24", "n_samples: 32"))
    capsys.readouterr()
    assert cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(out), *COMMON]) == 2
    assert "n_samples: stored 24, asked 32" in capsys.readouterr().err
    (data / "tiny.yaml").write_text(TINY_YAML)

    # Real time at 30 Hz: its own folders, counts in the JSON.
    rc = cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(out), "--realtime", "30",
                   "--slowdown", "2", *COMMON])
    assert rc == 0
    rt = json.loads((out / "csrt@30hz-x2" / "clipA.json").read_text())
    assert rt["mode"] == {"kind": "realtime", "rate_hz": 30.0, "slowdown": 2.0}
    assert rt["frames_processed"] + rt["frames_skipped"] == 6
    ours = next(p for p in out.iterdir() if p.name.startswith("dat-tiny+") and p.name.endswith("@30hz-x2"))
    assert json.loads((ours / "clipA.json").read_text())["frames_skipped"] > 0  # init alone is > 2 frames

    # A lossy link: its own folders, the lost frames counted apart from the skipped ones.
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt", "--out", str(out), "--drop", "0.4",
                     "--drop-burst", "2", *COMMON]) == 0
    lossy = json.loads((out / "csrt@drop0.4x2" / "clipA.json").read_text())
    assert lossy["mode"] == {"kind": "offline", "rate_hz": None, "slowdown": 1.0, "drop": 0.4, "drop_burst": 2,
                             "drop_seed": 0}
    assert lossy["frames_lost"] > 0 and lossy["frames_skipped"] == 0
    assert lossy["frames_processed"] + lossy["frames_lost"] == 6
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt", "--out", str(out), "--drop", "1.5",
                     *COMMON]) == 2

    # Catching up after the first frame, as the node does (its own folders, elsewhere).
    caught = data / "caught"
    assert cli.main(["eval", str(data / "data"), "--trackers", trackers, "--out", str(caught), "--realtime", "30",
                     "--slowdown", "2", "--catch-up", "1", *COMMON]) == 0
    ours = next(p for p in caught.iterdir() if p.name.startswith("dat-tiny+") and p.name.endswith("@30hz-x2-cu1"))
    record = json.loads((ours / "clipA.json").read_text())
    assert record["mode"]["catch_up_step"] == 1 and record["frames_caught_up"] >= 1
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt", "--out", str(caught), "--catch-up", "1",
                     *COMMON]) == 2

    # The report puts offline and real time side by side.
    capsys.readouterr()
    assert cli.main(["report", str(out), "--out", str(data / "report")]) == 0
    table = (data / "report" / "table.md").read_text()
    assert "Offline and real time side by side" in table
    assert "| offline AUC / P@20 | 30 Hz x2 AUC / P@20 |" in table
    side = table.split("side by side")[1]
    row = next(line for line in side.splitlines() if line.startswith("| csrt |"))
    assert "% of frames processed]" in row
    metrics = json.loads((data / "report" / "metrics.json").read_text())
    assert metrics["summary"]["csrt@30hz-x2"]["mode"] == "30 Hz x2"


def test_eval_with_the_fast_profile_and_overrides(data, capsys):
    out = data / "out"
    rc = cli.main(["eval", str(data / "data" / "clipA"), "--trackers", "dat-fast,kcf", "--out", str(out),
                   "--set", "feature_mode=crops", "--set", "bbreg_features=trunk", "--set", "n_samples=24",
                   "--set", "n_neg_init=100", "--set", "iters_init=2", "--set", "n_bbreg=20", *COMMON])
    assert rc == 0
    folder = out / ("dat-fast-lambda0+allow_random_backbone=True+bbreg_features=trunk+device=cpu+feature_mode=crops"
                    "+iters_init=2+n_bbreg=20+n_neg_init=100+n_samples=24")
    if not folder.exists():  # a long suffix is named by its digest
        (folder,) = [p for p in out.iterdir() if p.name.startswith("dat-fast-lambda0+cfg-")]
    cfg = json.loads((folder / "clipA.json").read_text())["tracker"]["config"]
    assert cfg["feature_mode"] == "crops" and cfg["profile"] == "fast" and cfg["n_samples"] == 24
    # Bad options fail before any tracking, with the reason.
    assert cli.main(["eval", str(data / "data"), "--trackers", "dat-fast", "--set", "feature_mode=crops",
                     "--out", str(out)]) == 2
    assert "set bbreg_features trunk" in capsys.readouterr().err
    assert cli.main(["eval", str(data / "data"), "--trackers", "dat-lambda0", "--set", "lam=5", "--out", str(out)]) == 2
    assert "set by the tracker name" in capsys.readouterr().err
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt", "--sequences", "nope", "--out", str(out)]) == 2
    assert "--sequences names nope" in capsys.readouterr().err
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt", "--realtime", "-1", "--out", str(out)]) == 2


def test_parallel_jobs_give_the_serial_results(data):
    """Sequences in worker processes: the same boxes as in this process, for the same seeds."""
    import os

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # what each of 2 workers gets
    # (not MIL: OpenCV's MIL differs from run to run even in one process)
    args = ["eval", str(data / "data"), "--trackers", f"dat@{data / 'tiny.yaml'},csrt", *COMMON]
    try:
        assert cli.main([*args, "--out", str(data / "serial")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert cli.main([*args, "--out", str(data / "parallel"), "--jobs", "2"]) == 0
    for folder in (data / "serial").iterdir():
        if folder.is_dir():
            for f in folder.glob("*.txt"):
                np.testing.assert_array_equal(np.loadtxt(f, delimiter=","),
                                              np.loadtxt(data / "parallel" / folder.name / f.name, delimiter=","))
    assert len(list((data / "parallel").glob("*/*.txt"))) == 4


def test_ray_on_a_local_instance(data, capsys):
    import ray  # the set-up installs it: its absence is a failure, not a skip

    try:
        rc = cli.main(["eval", str(data / "data"), "--trackers", "csrt,kcf", "--out", str(data / "ray"),
                       "--ray", "local", "--jobs", "2", "--quiet"])
    finally:
        ray.shutdown()
    assert rc == 0
    assert sorted(p.name for p in (data / "ray" / "csrt").glob("*.json")) == ["clipA.json", "clipB.json"]
    serial = data / "serial"
    assert cli.main(["eval", str(data / "data"), "--trackers", "csrt,kcf", "--out", str(serial), "--quiet"]) == 0
    for name in ("csrt", "kcf"):
        for clip in ("clipA", "clipB"):
            np.testing.assert_array_equal(np.loadtxt(data / "ray" / name / f"{clip}.txt", delimiter=","),
                                          np.loadtxt(serial / name / f"{clip}.txt", delimiter=","))
