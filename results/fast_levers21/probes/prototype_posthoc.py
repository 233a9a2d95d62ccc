"""Post hoc, the prototype (prototype_filter.py) on a saved run's boxes, from the repository root:
    python results/fast_levers21/probes/prototype_posthoc.py SEQ RUN_DIR[,RUN_DIR...] "KWARGS"
prints the run's AUC and the AUC with the centre moved 0.25 / 0.5 / 0.75 / 1 of the way to the
filter's; KWARGS: the filter's settings, and mode='ours' to learn at the run's own centre."""
import sys, numpy as np, cv2
sys.path.insert(0, "."); sys.path.insert(0, "results/fast_levers21/probes")
from prototype_filter import TransFilter
from rl_tracker_ros.media.sequences import load_otb
def iou(a, c):
    x1 = np.maximum(a[..., 0], c[..., 0]); y1 = np.maximum(a[..., 1], c[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], c[..., 0] + c[..., 2]); y2 = np.minimum(a[..., 1] + a[..., 3], c[..., 1] + c[..., 3])
    i = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None); return i / (a[..., 2] * a[..., 3] + c[..., 2] * c[..., 3] - i)
def auc(o): return np.mean([(o > t).mean() for t in np.linspace(0, 1, 21)])
seq_name, runs = sys.argv[1], sys.argv[2].split(',')
kw = eval("dict(" + (sys.argv[3] if len(sys.argv) > 3 else "") + ")")
mode = kw.pop('mode', 'own')  # learn at 'own' (blended) centre or 'ours'
ws = [0.25, 0.5, 0.75, 1.0]
seq = load_otb(f"../shared/data/sequences/{seq_name}")
gt = np.asarray(seq.groundtruth, float)
frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 else f for f in seq]
for run in runs:
    ours = np.loadtxt(f"{run}/{seq_name}.txt", delimiter=",")
    n = min(len(ours), len(gt))
    res = []
    for w in ws:
        tf = TransFilter(gt[0], **kw); out = [gt[0]]
        tf.learn(frames[0], gt[0, :2] + gt[0, 2:] / 2)
        for t in range(1, n):
            c = ours[t, :2] + ours[t, 2:] / 2
            d, p = tf.estimate(frames[t], c)
            c2 = c + w * d
            b = ours[t].copy(); b[:2] = c2 - b[2:] / 2; out.append(b)
            tf.learn(frames[t], c2 if mode == 'own' else c)
        res.append(auc(iou(np.array(out), gt[:n])))
    print(seq_name, run.split('/')[-1], f"{auc(iou(ours[:n], gt[:n])):.4f}", " ".join(f"{r:.4f}" for r in res), flush=True)
