"""Per-frame tracker time of the paper profile for each backbone, on one sequence.

    .venv/bin/python benchmarks/frame_time.py ../shared/data/sequences/Crossing --frames 21

Timing does not depend on the weights' values, so a backbone without local weights (VGG-M
here) is timed with a random trunk, and says so. Prints first-frame time, median and
90th-percentile per-frame time (update frames included) and the stage split.
"""
from __future__ import annotations

import argparse
import json
import platform

import numpy as np
import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.weights import WeightsError, load_backbone
from rl_tracker_ros.media.sequences import load_otb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequence")
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--backbones", nargs="*", default=["mobilenet", "vggm"])
    ap.add_argument("--lams", nargs="*", type=float, default=[5.0, 0.0])
    ap.add_argument("--mobilenet-weights", default=None)
    args = ap.parse_args()
    seq = load_otb(args.sequence)
    frames = [f for _, f in zip(range(args.frames), seq)]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {seq.name} {frames[0].shape[1]}x{frames[0].shape[0]}")
    for name in args.backbones:
        explicit = args.mobilenet_weights if name == "mobilenet" else None
        try:
            trunk, weights = load_backbone(name, explicit), "real"
        except WeightsError:
            trunk, weights = load_backbone(name, allow_random=True), "random (timing only)"
        for lam in args.lams:
            tracker = DATTracker(TrackerConfig(lam=lam), backbone=trunk)
            init = tracker.initialize(frames[0], seq.groundtruth[0])
            times, stages = [], {}
            for f in frames[1:]:
                r = tracker.track(f)
                times.append(r.time_s)
                for k, v in r.stages.items():
                    stages[k] = stages.get(k, 0.0) + v
            row = {"backbone": name, "weights": weights, "lam": lam, "device": str(tracker.device),
                   "init_s": round(init.time_s, 2), "median_s": round(float(np.median(times)), 3),
                   "p90_s": round(float(np.percentile(times, 90)), 3),
                   "mean_s": round(float(np.mean(times)), 3),
                   "stage_share": {k: round(v / sum(stages.values()), 3) for k, v in stages.items()}}
            print(json.dumps(row))


if __name__ == "__main__":
    main()
