"""Post hoc: a saved run's boxes resized by the scale filter run on their centres (learning
on every frame). From the repository root:
    python results/fast_levers20/probes/scale_filter_posthoc.py SEQ RUN_DIR [filter kwargs]
prints the sequence, the run's AUC, and the AUC with each box's size blended 0.3 / 0.5 / 0.7
of the way (in log scale) to the filter's."""
import sys, numpy as np
sys.path.insert(0, ".")  # run from the repository root
from rl_tracker_ros.core.scale_filter import ScaleFilter, gray_frame, blend_size
from rl_tracker_ros.media.sequences import load_otb
def iou(a, c):
    x1 = np.maximum(a[..., 0], c[..., 0]); y1 = np.maximum(a[..., 1], c[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], c[..., 0] + c[..., 2]); y2 = np.minimum(a[..., 1] + a[..., 3], c[..., 1] + c[..., 3])
    i = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None); return i / (a[..., 2] * a[..., 3] + c[..., 2] * c[..., 3] - i)
def auc(o): return np.mean([(o > t).mean() for t in np.linspace(0, 1, 21)])
seq_name, run = sys.argv[1], sys.argv[2]
kw = eval("dict(" + (sys.argv[3] if len(sys.argv) > 3 else "") + ")")
ws = [0.3, 0.5, 0.7]
seq = load_otb(f"../shared/data/sequences/{seq_name}")
gt = np.asarray(seq.groundtruth, float)
ours = np.loadtxt(f"{run}/{seq_name}.txt", delimiter=",")
n = min(len(ours), len(gt))
sf = ScaleFilter(gt[0], **kw)
outs = {w: [gt[0]] for w in ws}
for t, frame in enumerate(seq):
    if t >= n: break
    g = gray_frame(frame)
    c = ours[t, :2] + ours[t, 2:] / 2
    if t == 0:
        sf.learn(g, c); continue
    size = sf.estimate(g, c)
    for w in ws: outs[w].append(blend_size(ours[t], size, w))
    sf.learn(g, c)
print(seq_name, f"{auc(iou(ours[:n], gt[:n])):.4f}", " ".join(f"{auc(iou(np.array(outs[w]), gt[:n])):.4f}" for w in ws))
