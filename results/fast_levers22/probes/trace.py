"""Per-frame trace of the tracker on one sequence (issue #15, twenty-second round).

    OMP_NUM_THREADS=1 PYTHONPATH=<worktree> .venv/bin/python results/fast_levers22/probes/trace.py \
        CONFIG.yaml SEED SEQUENCE [FIRST LAST] [--drop P --drop-burst K]

One line a frame from FIRST to LAST: the state, the score of the chosen candidates, the
classifier's score of the ground truth's box (scored before the frame is tracked, so with the
same classifier), the IoU, the box and the ground truth, and, with a translation filter, where
its peak (located about the last box) with its peak-to-sidelobe ratio, and the search's centre after the frame lie from the
ground truth's centre. With ``--drop`` the frames a lossy link loses (the harness's
``FrameLoss``, drop seed 0) are skipped and the next is tracked with the intervals that passed.
A frame where the ground truth's score is above the chosen one is a search failure.
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from rl_tracker_ros.core.boxes import centers, iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.evaluation.realtime import FrameLoss
from rl_tracker_ros.media.sequences import load_sequence


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("seed", type=int)
    ap.add_argument("sequence")
    ap.add_argument("first", type=int, nargs="?", default=1)
    ap.add_argument("last", type=int, nargs="?", default=10 ** 9)
    ap.add_argument("--drop", type=float, default=0.0)
    ap.add_argument("--drop-burst", type=int, default=1)
    ap.add_argument("--root", default="../shared/data/sequences")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrackerConfig.from_yaml(Path(args.config)).replace(seed=args.seed)
    seq = load_sequence(Path(args.root) / args.sequence)
    gt = seq.groundtruth
    loss = FrameLoss(args.drop, args.drop_burst, 0) if args.drop else None
    tracker, elapsed = DATTracker(cfg), 1
    for k, frame in enumerate(seq):
        if k == 0:
            tracker.initialize(frame, gt[0])
            continue
        shown = args.first <= k <= args.last
        if loss is not None and loss.lost(k):
            elapsed += 1
            if shown:
                print(f"{k:4d} lost")
            continue
        truth = centers(gt[k:k + 1])[0]
        if shown:
            gt_score = float(tracker.score_boxes(frame, gt[k:k + 1])[0])
            located = tracker.refiner.locate(frame, tracker.target) if tracker.refiner is not None else None
            peak, sharpness = located if located is not None else (None, 0.0)
        result = tracker.track(frame, elapsed=elapsed)
        if shown:
            filt = "" if peak is None else f" peak-gt {np.round(peak - truth).astype(int)} psr {sharpness:.1f}"
            search = np.round(centers(tracker.target[None])[0] - truth).astype(int)
            print(f"{k:4d} {result.state.value[:5]:5s} score {result.score:6.2f} gt_score {gt_score:6.2f} "
                  f"iou {float(iou(result.box[None], gt[k])[0]):.2f} "
                  f"box {np.round(result.box).astype(int)} gt {gt[k].astype(int)} elapsed {elapsed}{filt} search-gt {search}")
        elapsed = 1


if __name__ == "__main__":
    main()
