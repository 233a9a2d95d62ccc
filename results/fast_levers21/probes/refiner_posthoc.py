"""Post hoc: a saved run's boxes moved by the translation filter and resized by the scale
filter (core/refiner.py's order), each learning on every frame at the box it gave. From the
repository root:
    python results/fast_levers21/probes/refiner_posthoc.py SEQ RUN_DIR[,RUN_DIR...] "[(wt, ws), ...]"
prints, per run, the sequence, the run's AUC and the AUC with each (translation weight,
scale weight). The in-tracker option moves the reported box only, so the tracker's own
boxes stay as saved and this equals it (checked: seed 0, Coke 0.7179 here, 0.717 from the
tracker)."""
import sys

import numpy as np

sys.path.insert(0, ".")  # run from the repository root
from rl_tracker_ros.core.refiner import BoxRefiner  # noqa: E402
from rl_tracker_ros.media.sequences import load_otb  # noqa: E402


def iou(a, c):
    x1 = np.maximum(a[..., 0], c[..., 0]); y1 = np.maximum(a[..., 1], c[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], c[..., 0] + c[..., 2]); y2 = np.minimum(a[..., 1] + a[..., 3], c[..., 1] + c[..., 3])
    i = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return i / (a[..., 2] * a[..., 3] + c[..., 2] * c[..., 3] - i)


def auc(o):
    return np.mean([(o > t).mean() for t in np.linspace(0, 1, 21)])


seq_name, runs, combos = sys.argv[1], sys.argv[2].split(","), eval(sys.argv[3])
seq = load_otb(f"../shared/data/sequences/{seq_name}")
gt = np.asarray(seq.groundtruth, float)
frames = list(seq)
for run in runs:
    ours = np.loadtxt(f"{run}/{seq_name}.txt", delimiter=",")
    n = min(len(ours), len(gt))
    scores = []
    for wt, ws in combos:
        refiner = BoxRefiner(frames[0], gt[0], wt, ws)
        out = [gt[0]]
        for t in range(1, n):
            out.append(refiner.refine(frames[t], ours[t]))
            refiner.learn()
        scores.append(auc(iou(np.array(out), gt[:n])))
    print(seq_name, run.split("/")[-1], f"{auc(iou(ours[:n], gt[:n])):.4f}", " ".join(f"{s:.4f}" for s in scores), flush=True)
