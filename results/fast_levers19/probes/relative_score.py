import json, glob, numpy as np, sys
K = 10
files = sorted(glob.glob(sys.argv[1]))
stats = {}
for f in files:
    d = json.load(open(f))
    for s, rows in d.items():
        hist = []
        for i, score, state, iou_box, iou_t in rows:
            med = np.median(hist[-K:]) if hist else np.nan
            stats.setdefault(s, []).append((score, med, state, iou_box))
            if state == "tracking": hist.append(score)
allr = [r for v in stats.values() for r in v]
a = np.array([(r[0], r[1], r[3], r[2]=="tracking") for r in allr], dtype=float)
trk = a[:,3]==1
print("frames", len(a), "tracking", trk.sum(), "tracking&IoU<0.1", (trk&(a[:,2]<0.1)).sum(), "tracking&IoU>=0.3", (trk&(a[:,2]>=0.3)).sum())
for r in [0.1, 0.2, 0.3, 0.4, 0.5]:
    low = a[:,0] < r*a[:,1]
    print(f"ratio<{r}: off-target(IoU<0.1) flagged {(trk&(a[:,2]<0.1)&low).sum()}  on-target(IoU>=0.3) flagged {(trk&(a[:,2]>=0.3)&low).sum()}")
for s, v in stats.items():
    v = np.array([(x[0], x[1], x[3], x[2]=="tracking") for x in v], dtype=float)
    off = (v[:,3]==1)&(v[:,2]<0.1)
    print(s, "off-target tracking frames", off.sum(), "median score on", np.round(np.median(v[(v[:,2]>=0.3),0]),2), "off", np.round(np.median(v[off,0]),2) if off.any() else "-", "ratio off", np.round(np.median(v[off,0]/v[off,1]),2) if off.any() else "-")
