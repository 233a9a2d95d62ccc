"""Tracking a real OTB sequence with the real MobileNet weights (skipped without ../shared)."""
import numpy as np

from rl_tracker_ros.core.boxes import iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_otb

from conftest import MOBILENET_TFJS, SEQUENCES, needs_shared

# Reciprocative learning (lambda = 5) with every per-frame setting of the paper; only the
# first-frame schedule is shortened (1000 negatives instead of 5000, 25 iterations instead
# of 50) to keep CI on a 2-core CPU within minutes. Measured on Crossing frames 1-30 with
# this config and seed 0 on the development machine: mean IoU 0.709 (min 0.407), all 29
# frames in state tracking. The bar is set below that with room for BLAS nondeterminism,
# and far above what a drifting tracker gets (IoU falls to ~0 within a few frames).
CI_CONFIG = dict(device="cpu", lam=5.0, n_neg_init=1000, iters_init=25)
MIN_MEAN_IOU = 0.55


@needs_shared(SEQUENCES / "Crossing")
@needs_shared(MOBILENET_TFJS)
def test_tracks_30_real_frames_with_real_weights():
    seq = load_otb(SEQUENCES / "Crossing")
    tracker = DATTracker(TrackerConfig(weights=str(MOBILENET_TFJS), **CI_CONFIG))
    frames = iter(seq)
    tracker.initialize(next(frames), seq.groundtruth[0])
    ious, states = [], []
    for i, frame in zip(range(1, 30), frames):
        r = tracker.track(frame)
        ious.append(iou(r.box, seq.groundtruth[i])[0])
        states.append(r.state.value)
    assert np.mean(ious) > MIN_MEAN_IOU, (np.round(ious, 2), states)
    assert states.count("tracking") >= 25


# The fast profile with all its own settings, on the whole of Crossing (120 frames).
# Measured on the development machine, seed 0: mean IoU 0.533 (centre always within
# 20 px; the box is looser than the paper profile's). A tracker that loses the walker
# falls to ~0 within a few frames.
FAST_MIN_MEAN_IOU = 0.45


@needs_shared(SEQUENCES / "Crossing")
@needs_shared(MOBILENET_TFJS)
def test_fast_profile_tracks_a_whole_real_sequence():
    seq = load_otb(SEQUENCES / "Crossing")
    tracker = DATTracker(TrackerConfig.preset("fast", weights=str(MOBILENET_TFJS), device="cpu"))
    frames = iter(seq)
    tracker.initialize(next(frames), seq.groundtruth[0])
    ious = [iou(tracker.track(f).box, seq.groundtruth[i])[0] for i, f in enumerate(frames, start=1)]
    assert np.mean(ious) > FAST_MIN_MEAN_IOU, np.round(ious, 2)
