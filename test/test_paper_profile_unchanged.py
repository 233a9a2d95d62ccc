"""The paper profile is the trustworthy reference: speed work must not change its results.

``data/paper_profile_golden.json`` holds the boxes this exact code path gave for a fixed
seed at the commit recorded in the file, before the fast profile and motion-aware search
were added (issue #5). Any change to the paper path's sampling, crops, features, training
or update schedule moves these boxes; float noise across machines stays far below 0.05 px.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.weights import load_backbone
from rl_tracker_ros.sequences import load_otb

from conftest import MOBILENET_TFJS, SEQUENCES, TinyTrunk, needs_shared, synthetic_sequence

GOLDEN = json.loads((Path(__file__).parent / "data" / "paper_profile_golden.json").read_text())
TOL_PX = 0.05


def run(cfg, trunk, frames, first_box):
    tr = DATTracker(cfg, backbone=trunk)
    return np.array([tr.initialize(frames[0], first_box).box] + [tr.track(f).box for f in frames[1:]])


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_paper_profile_boxes_unchanged_on_synthetic_clip(lam):
    frames, gt = synthetic_sequence(n=12)
    cfg = TrackerConfig.preset("paper", lam=lam, feature_scale=20.0, **GOLDEN["config"])
    boxes = run(cfg, TinyTrunk(), frames, gt[0])
    np.testing.assert_allclose(boxes, GOLDEN["runs"][f"synthetic_tiny_lam{lam:g}"], atol=TOL_PX, rtol=0)


@needs_shared(MOBILENET_TFJS)
@needs_shared(SEQUENCES / "Crossing")
@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_paper_profile_boxes_unchanged_on_real_clip(lam):
    seq = load_otb(SEQUENCES / "Crossing")
    frames = [f for _, f in zip(range(12), seq)]
    cfg = TrackerConfig.preset("paper", lam=lam, **GOLDEN["config"])
    boxes = run(cfg, load_backbone("mobilenet", str(MOBILENET_TFJS)), frames, seq.groundtruth[0])
    np.testing.assert_allclose(boxes, GOLDEN["runs"][f"crossing_mobilenet_lam{lam:g}"], atol=TOL_PX, rtol=0)
