"""Per-frame score / state / IoU trace of the fast profile, offline (diagnostic only)."""
import sys, json, numpy as np, torch
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.media.sequences import load_sequence, read_rgb
torch.set_num_threads(1)
seed = int(sys.argv[1]); out = sys.argv[2]; seqs = sys.argv[3].split(",")
cfgfile = sys.argv[4] if len(sys.argv) > 4 else None
def iou(a, b):
    x1=max(a[0],b[0]); y1=max(a[1],b[1]); x2=min(a[0]+a[2],b[0]+b[2]); y2=min(a[1]+a[3],b[1]+b[3])
    i=max(0,x2-x1)*max(0,y2-y1); return i/(a[2]*a[3]+b[2]*b[3]-i+1e-9)
cfg = TrackerConfig.from_yaml(cfgfile) if cfgfile else TrackerConfig.preset("fast")
cfg = cfg.replace(seed=seed)
res = {}
for s in seqs:
    seq = load_sequence(f"/work/shared/data/sequences/{s}")
    t = DATTracker(cfg)
    t.initialize(read_rgb(seq.frames[0]), seq.groundtruth[0])
    rows = []
    for i in range(1, len(seq.frames)):
        r = t.track(read_rgb(seq.frames[i]))
        g = seq.groundtruth[i]
        # IoU of the top-k mean (the tracker's search target), and of the reported box
        rows.append([i, float(r.score), r.state.value, iou(r.box, g), iou(t.target, g)])
    res[s] = rows
json.dump(res, open(out, "w"))
