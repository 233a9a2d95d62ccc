import numpy as np, glob, sys
SEQ=["Coke","Crossing","Deer","DragonBaby","Football","Girl","KiteSurf","MotorRolling"]
def iou(a,c):
    x1=np.maximum(a[:,0],c[:,0]); y1=np.maximum(a[:,1],c[:,1]); x2=np.minimum(a[:,0]+a[:,2],c[:,0]+c[:,2]); y2=np.minimum(a[:,1]+a[:,3],c[:,1]+c[:,3])
    i=np.clip(x2-x1,0,None)*np.clip(y2-y1,0,None); return i/(a[:,2]*a[:,3]+c[:,2]*c[:,3]-i)
def auc(b,g):
    o=iou(b,g); th=np.linspace(0,1,21); return np.mean([(o>t).mean() for t in th])
def smooth(b, a, mode):
    out=b.copy(); w,h=b[0,2],b[0,3]
    for t in range(1,len(b)):
        if mode=="size":
            w=(1-a)*w+a*b[t,2]; h=(1-a)*h+a*b[t,3]
        elif mode=="log":
            w=np.exp((1-a)*np.log(w)+a*np.log(b[t,2])); h=np.exp((1-a)*np.log(h)+a*np.log(b[t,3]))
        cx=b[t,0]+b[t,2]/2; cy=b[t,1]+b[t,3]/2
        out[t]=[cx-w/2,cy-h/2,w,h]
    return out
root=sys.argv[1]
gts={s:np.loadtxt(open(f'/work/shared/data/sequences/{s}/groundtruth_rect.txt').read().replace(',',' ').replace('\t',' ').splitlines()) for s in SEQ}
for a in [1.0,0.7,0.5,0.35,0.25]:
    per_seed=[]; per_seq={s:[] for s in SEQ}
    for d in sorted(glob.glob(root)):
        r=[]
        for s in SEQ:
            b=np.loadtxt(f'{d}/{s}.txt',delimiter=','); g=gts[s][:len(b)]
            x=auc(smooth(b,a,"log"),g); r.append(x); per_seq[s].append(x)
        per_seed.append(np.mean(r))
    print(f"alpha {a}: {np.mean(per_seed):.4f} ± {np.std(per_seed,ddof=1):.3f}  ", " ".join(f"{s[:5]} {np.mean(v):.3f}" for s,v in per_seq.items()))
