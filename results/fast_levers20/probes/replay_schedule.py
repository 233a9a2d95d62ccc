"""Replay a frame schedule offline: the fast profile initialised on frame 0, then the frames
listed (with the intervals between them as ``elapsed``, as the node's worker passes them),
then every frame. From the repository root:
    python results/fast_levers20/probes/replay_schedule.py SEQ SEED FRAMES [FRAMES ...]
FRAMES like ``3,6`` (the node's catch-up after a 0.17 s first frame with catch_up_step 3:
frames 3 and 6, then the newest, which at 11 ms a frame is every frame). Prints the mean IoU
of the frames tracked and the IoU on frame 30."""
import sys

import numpy as np

sys.path.insert(0, ".")  # run from the repository root
from rl_tracker_ros.core.boxes import iou  # noqa: E402
from rl_tracker_ros.core.config import TrackerConfig  # noqa: E402
from rl_tracker_ros.core.tracker import DATTracker  # noqa: E402
from rl_tracker_ros.media.sequences import load_otb  # noqa: E402

seq = load_otb(f"../shared/data/sequences/{sys.argv[1]}")
frames, gt = list(seq), np.asarray(seq.groundtruth, float)
for schedule in sys.argv[3:]:
    first = [int(x) for x in schedule.split(",")]
    tracker = DATTracker(TrackerConfig.preset("fast", seed=int(sys.argv[2])))
    tracker.initialize(frames[0], gt[0])
    last, ious = 0, {}
    for i in first + list(range(first[-1] + 1, len(frames))):
        ious[i] = float(iou(tracker.track(frames[i], elapsed=i - last).box[None], gt[i][None])[0])
        last = i
    print(f"{schedule}: mean IoU {np.mean(list(ious.values())):.3f}, frame 30 {ious.get(30, float('nan')):.2f}")
