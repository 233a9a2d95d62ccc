"""Trace the fast profile on the demo's photo scene, every frame handed over (offline).

    .venv/bin/python results/fast_levers25/probes/scene_trace.py FRAMES FIRST LAST ['{key: value}']

Prints, for frames FIRST..LAST, the box's IoU with the cat and with the coffee cup, the box,
the state and the score, then the mean IoU over all frames and the last 100. The optional
YAML mapping overrides the fast profile's settings.
"""
import sys

import numpy as np
import yaml

from rl_tracker_ros.core.boxes import iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.scene import PhotoScene


def main() -> None:
    n, first, last = (int(a) for a in sys.argv[1:4])
    overrides = yaml.safe_load(sys.argv[4]) if len(sys.argv) > 4 else {}
    scene = PhotoScene(n_frames=n)
    tracker = DATTracker(TrackerConfig.preset("fast", **overrides))
    tracker.initialize(scene.frame(0), scene.groundtruth[0])
    ious = []
    for i in range(1, n):
        r = tracker.track(scene.frame(i))
        cat, cup = (float(np.ravel(iou(r.box[None], b))[0]) for b in (scene.groundtruth[i], scene._distractor_box(i)))
        ious.append(cat)
        if first <= i <= last:
            print(i, f"{cat:.2f}", f"{cup:.2f}", np.round(r.box).astype(int), r.state.name, f"{r.score:.2f}")
    print(f"mean IoU {np.mean(ious):.3f}, last 100 frames {np.mean(ious[-100:]):.3f}")


if __name__ == "__main__":
    main()
