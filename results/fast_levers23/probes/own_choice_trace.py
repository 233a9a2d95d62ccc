"""Per-frame trace of the classifier's own choice beside the translation filter's peak
(issue #15, twenty-third round):

    OMP_NUM_THREADS=1 .venv/bin/python results/fast_levers23/probes/own_choice_trace.py CONFIG.yaml SEED SEQUENCE FIRST LAST [drop]

With ``drop`` (the twenty-fourth round's lossy link) the frames ``--drop 0.1 --drop-burst 3``
loses (drop seed 0) are left out and each gap is passed as ``elapsed`` (shown as ``gap``).

One line a frame: the IoU, where the classifier's own choice (the mean centre of its top-k by
score alone, before any window), the filter's peak (located about the last box) and the
search's centre after the frame lie from the ground truth's centre, the filter's
peak-to-sidelobe ratio, how far the choice and the peak are apart in target sizes, the best
candidate's score and the candidates' sd in pixels.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from rl_tracker_ros.core.boxes import centers, iou
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.evaluation.realtime import FrameLoss
from rl_tracker_ros.media.sequences import load_sequence


def main() -> None:
    config, seed, name, first, last = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(1)
    cfg = TrackerConfig.from_yaml(Path(config)).replace(seed=seed)
    seq = load_sequence(Path(__file__).resolve().parents[4] / "shared" / "data" / "sequences" / name)
    gt = seq.groundtruth
    tracker = DATTracker(cfg)
    seen = {}
    rank = tracker._rank

    def recording_rank(scores, samples, spread, peak=None, sharpness=float("inf")):
        top = scores.topk(cfg.top_k).indices.numpy()
        seen.update(own=centers(samples[top]).mean(axis=0), best=float(scores.max()),
                    sd=spread * float(tracker.target[2:].mean()))
        return rank(scores, samples, spread, peak, sharpness)

    tracker._rank = recording_rank
    loss = FrameLoss(0.1, 3, 0) if sys.argv[6:7] == ["drop"] else None
    last_taken = 0
    for k, frame in enumerate(seq):
        if k == 0:
            tracker.initialize(frame, gt[0])
            continue
        if k > last:
            break
        if loss is not None and loss.lost(k):
            continue
        elapsed, last_taken = k - last_taken, k
        truth = centers(gt[k:k + 1])[0]
        peak, sharpness = tracker.refiner.locate(frame, tracker.target)
        result = tracker.track(frame, elapsed=elapsed)
        if k >= first:
            size = np.sqrt(gt[k, 2] * gt[k, 3])
            off = lambda p: np.round(p - truth).astype(int)  # noqa: E731
            print(f"{k:4d} gap {elapsed} iou {float(iou(result.box[None], gt[k])[0]):.2f} own-gt {off(seen['own'])} "
                  f"peak-gt {off(peak)} psr {sharpness:.1f} search-gt {off(centers(tracker.target[None])[0])} "
                  f"|own-peak|/size {np.linalg.norm(seen['own'] - peak) / size:.2f} best {seen['best']:.2f} "
                  f"sd {seen['sd']:.0f}")


if __name__ == "__main__":
    main()
