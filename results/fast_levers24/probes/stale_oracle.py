"""What a perfect tracker scores on a lossy link (issue #15, twenty-fourth round):

    .venv/bin/python results/fast_levers24/probes/stale_oracle.py [P BURST DROP_SEED]

Every frame that reaches the tracker is given its ground-truth box; a frame the link lost
is scored, as in ``rl-tracker eval --drop P --drop-burst BURST``, with the box of the last
frame that arrived. The AUC it prints is the ceiling the link leaves: no tracker, however
accurate, scores above it, and a tracker whose boxes are already off loses less to the
stale frames than this one does.
"""
import sys
from pathlib import Path

import numpy as np

from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.evaluation.realtime import FrameLoss
from rl_tracker_ros.media.sequences import load_sequence

SEQUENCES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "sequences"


def stale_truth(gt: np.ndarray, loss: FrameLoss) -> np.ndarray:
    """The ground truth as a consumer holds it: frame i's, or the last arrived frame's."""
    held = np.arange(len(gt))
    for i in range(1, len(gt)):
        if loss.lost(i):
            held[i] = held[i - 1]
    return gt[held]


def main() -> None:
    p, burst, seed = (float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (0.1, 3, 0)
    aucs = []
    for folder in sorted(f for f in SEQUENCES.iterdir() if f.is_dir()):
        gt = load_sequence(folder).groundtruth
        auc = evaluate(stale_truth(gt, FrameLoss(p, burst, seed)), gt).auc
        aucs.append(auc)
        print(f"{folder.name:14s} {auc:.3f}")
    print(f"{'mean':14s} {np.mean(aucs):.3f}")


if __name__ == "__main__":
    main()
