"""How the classifier's score answers a box's scale: region features against crops.

    .venv/bin/python benchmarks/scale_response.py ../shared/data/sequences/Crossing --profile fast
    .venv/bin/python benchmarks/scale_response.py ../shared/data/sequences/Crossing --profile paper

Tracks the sequence from its first frame and, on the frames asked for, scores the ground
truth box scaled about its centre by each factor (both sides, the width alone, the height
alone) with the classifier as it stands then (``DATTracker.score_boxes``). A tracker that
takes the mean of its best-scored candidates needs the score to fall on both sides of the
true size; where it stays level below it, the box shrinks. It also prints what the box
regression makes of the boxes scaled on both sides (``DATTracker.regress_boxes``: its
width and height over the truth's), which is what has to put the size back. Prints one row
per frame and kind; ``--out`` also writes them as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import yaml

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_otb

FACTORS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)


def scaled(box: np.ndarray, fw: np.ndarray, fh: np.ndarray) -> np.ndarray:
    """``box`` with its width times ``fw`` and height times ``fh``, about its centre."""
    centre = box[:2] + box[2:] / 2
    size = np.stack([box[2] * fw, box[3] * fh], axis=1)
    return np.concatenate([centre - size / 2, size], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequence")
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--frames", type=int, nargs="*", default=[1, 10, 20, 30])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="further TrackerConfig keys, YAML values (e.g. n_neg_init=1000)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    seq = load_otb(args.sequence)
    tracker = DATTracker(TrackerConfig.preset(args.profile, device="cpu", seed=args.seed, **overrides))
    f = np.asarray(FACTORS)
    one = np.ones_like(f)
    rows = []
    print(f"# {seq.name}, profile {args.profile}, seed {args.seed}, torch {torch.__version__}; "
          f"scores of the ground truth scaled by {' '.join(map(str, FACTORS))}")
    for i, frame in enumerate(seq):
        if i > max(args.frames):
            break
        if i == 0:
            tracker.initialize(frame, seq.groundtruth[0])
            continue
        if i in args.frames:
            gt = seq.groundtruth[i]
            boxes = np.concatenate([scaled(gt, f, f), scaled(gt, f, one), scaled(gt, one, f)])
            scores = tracker.score_boxes(frame, boxes).reshape(3, -1)
            for kind, s in zip(("both", "width", "height"), scores):
                rows.append({"frame": i, "kind": kind, "scores": [round(float(x), 3) for x in s]})
                peak = FACTORS[int(np.argmax(s))]
                print(f"frame {i:4d} {kind:6s} " + " ".join(f"{x:6.2f}" for x in s) + f"   peak at {peak}")
            # What the box regression makes of the boxes scaled on both sides: its width and
            # height over the truth's (1.0 everywhere would be a regression that sees scale).
            regressed = tracker.regress_boxes(frame, boxes[:len(f)])
            for name, ratio in (("reg w", regressed[:, 2] / gt[2]), ("reg h", regressed[:, 3] / gt[3])):
                rows.append({"frame": i, "kind": name, "ratios": [round(float(x), 3) for x in ratio]})
                print(f"frame {i:4d} {name:6s} " + " ".join(f"{x:6.2f}" for x in ratio) + "   regressed / truth")
        tracker.track(frame)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"sequence": seq.name, "profile": args.profile, "seed": args.seed,
                                        "overrides": overrides, "factors": FACTORS, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
