"""The paper profile is the trustworthy reference: speed work must not change its results.

``data/paper_profile_golden.json`` holds the boxes this exact code path gave for a fixed
seed at the commit recorded in the file, before the fast profile and motion-aware search
were added (issue #5): the paper profile as it was then, the per-sample form of Eq. 2-5
with the mean cross-entropy. ``data/paper_profile_official_golden.json`` holds the
boxes of today's paper profile (the official form and summed loss, issue #14) at its
commit. Any change to the paper path's sampling, crops, features, training or update
schedule moves these boxes.

The real clip leaves out one case: the per-sample form at lambda 5. Its first-frame
training amplifies float rounding chaotically, so its boxes follow the CPU's kernels, not
the code: the same commit parts from its golden boxes at frame 3 (up to 4.3 px) where MKL
uses its AVX-512 kernels instead of AVX2, and at frame 9 (1.0 px) on another AVX-512
machine with AVX2 pinned, while lambda 0 and lambda 5 of that form differ by at most
3.6 px on the same frames. Across kernel paths its first-frame classifier moves up to
62 % (largest relative weight change) against 5 % for the official form at lambda 5 and
4 % or less at lambda 0: a golden for that case measures the machine. The synthetic clip
still checks it, and the other three real-clip cases agree far below 0.05 px across
machines.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.weights import load_backbone
from rl_tracker_ros.media.sequences import load_otb

from conftest import MOBILENET_TFJS, SEQUENCES, TinyTrunk, needs_shared, synthetic_sequence

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "paper_profile_golden.json").read_text())
OFFICIAL = json.loads((DATA / "paper_profile_official_golden.json").read_text())
#: The paper profile before issue #14 is these overrides of today's.
PER_SAMPLE = dict(attention_form="per_sample", loss_reduction="mean")
FORMS = {"per_sample": (GOLDEN, PER_SAMPLE), "official": (OFFICIAL, {})}
TOL_PX = 0.05


def run(cfg, trunk, frames, first_box):
    tr = DATTracker(cfg, backbone=trunk)
    return np.array([tr.initialize(frames[0], first_box).box] + [tr.track(f).box for f in frames[1:]])


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_paper_profile_boxes_unchanged_on_synthetic_clip(lam, form):
    golden, overrides = FORMS[form]
    frames, gt = synthetic_sequence(n=12)
    cfg = TrackerConfig.preset("paper", lam=lam, feature_scale=20.0, **golden["config"], **overrides)
    boxes = run(cfg, TinyTrunk(), frames, gt[0])
    np.testing.assert_allclose(boxes, golden["runs"][f"synthetic_tiny_lam{lam:g}"], atol=TOL_PX, rtol=0)


#: Every (lambda, form) but the chaotic one (see the module docstring).
REAL_CLIP_CASES = [(lam, form) for lam in (0.0, 5.0) for form in sorted(FORMS) if (lam, form) != (5.0, "per_sample")]


@needs_shared(MOBILENET_TFJS)
@needs_shared(SEQUENCES / "Crossing")
@pytest.mark.parametrize("lam, form", REAL_CLIP_CASES)
def test_paper_profile_boxes_unchanged_on_real_clip(lam, form):
    golden, overrides = FORMS[form]
    seq = load_otb(SEQUENCES / "Crossing")
    frames = [f for _, f in zip(range(12), seq)]
    cfg = TrackerConfig.preset("paper", lam=lam, **golden["config"], **overrides)
    boxes = run(cfg, load_backbone("mobilenet", str(MOBILENET_TFJS)), frames, seq.groundtruth[0])
    np.testing.assert_allclose(boxes, golden["runs"][f"crossing_mobilenet_lam{lam:g}"], atol=TOL_PX, rtol=0)
