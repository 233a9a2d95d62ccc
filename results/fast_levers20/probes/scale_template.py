"""Diagnostic: does a mid-lattice template say the box's scale? Track with the default fast
profile (offline); on every frame compare our box rescaled about its centre by s with a
template (first frame's lattice; and an EMA of the lattice at our boxes) by cosine; report
IoU with GT of our box vs the argmax-rescaled one."""
import sys, numpy as np, torch
sys.path.insert(0, ".")  # run from the repository root
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_otb
from rl_tracker_ros.core.weights import import_weights  # noqa
torch.set_num_threads(1)
SC = np.array([0.88, 0.94, 1.0, 1.06, 1.13])
def iou(a, c):
    x1 = np.maximum(a[..., 0], c[..., 0]); y1 = np.maximum(a[..., 1], c[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], c[..., 0] + c[..., 2]); y2 = np.minimum(a[..., 1] + a[..., 3], c[..., 1] + c[..., 3])
    i = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None); return i / (a[..., 2] * a[..., 3] + c[..., 2] * c[..., 3] - i)
def rescale(b, s, sy=None):
    sy = s if sy is None else sy
    cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2; w, h = b[2] * s, b[3] * sy
    return np.array([cx - w / 2, cy - h / 2, w, h])
def norm(f, mode):
    if mode == "point":  # per lattice point
        f = f.view(f.shape[0], -1, 25)
        f = f / (f.norm(dim=1, keepdim=True) + 1e-6)
        return f.reshape(f.shape[0], -1) / 5.0
    return f / (f.norm(dim=1, keepdim=True) + 1e-6)
seq_name, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
seq = load_otb(f"../shared/data/sequences/{seq_name}")
cfg = TrackerConfig.preset("fast", seed=seed)
tr = DATTracker(cfg)
frames = list(seq)
gt = np.asarray(seq.groundtruth, dtype=float)
tr.initialize(frames[0], gt[0])
def lattice(frame, boxes):
    src, b, _ = tr._read_boxes(frame, boxes, "diag")
    return src.mid_features(b, 5)
modes = ["whole", "point"]
T0 = {m: norm(lattice(frames[0], gt[0][None]), m)[0] for m in modes}
Tema = {m: T0[m].clone() for m in modes}
res = {k: [] for k in ["ours", "t0_whole", "t0_point", "ema_whole", "ema_point", "gt_t0_point_argmax", "gt_ema_point_argmax"]}
for t in range(1, len(frames)):
    r = tr.track(frames[t])
    b = np.asarray(r.box, float)
    if r.state.value != "TRACKING" and str(r.state) != "TrackState.TRACKING":
        pass
    cand = np.stack([rescale(b, s) for s in SC])
    gtc = np.stack([rescale(gt[t], s) for s in SC])
    F = lattice(frames[t], np.concatenate([cand, gtc]))
    res["ours"].append(iou(b, gt[t]))
    for m in modes:
        f = norm(F, m)
        s0 = (f[:5] @ T0[m]).numpy(); se = (f[:5] @ Tema[m]).numpy()
        res[f"t0_{m}"].append(iou(cand[s0.argmax()], gt[t]))
        res[f"ema_{m}"].append(iou(cand[se.argmax()], gt[t]))
        if m == "point":
            res["gt_t0_point_argmax"].append(SC[(f[5:] @ T0[m]).numpy().argmax()])
            res["gt_ema_point_argmax"].append(SC[(f[5:] @ Tema[m]).numpy().argmax()])
        Tema[m] = 0.98 * Tema[m] + 0.02 * f[2]
        Tema[m] = Tema[m] / Tema[m].norm() * (1 if m == "whole" else 1)
out = {k: (np.mean(v) if "argmax" not in k else np.round([np.mean(np.array(v) == s) for s in SC], 2)) for k, v in res.items()}
print(seq_name, seed, " ".join(f"{k}={v if isinstance(v, np.ndarray) else round(float(v), 4)}" for k, v in out.items()), flush=True)
