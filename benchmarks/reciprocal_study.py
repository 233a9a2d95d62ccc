"""Why does lambda = 5 track worse than lambda = 0 here? Measures the two loss terms.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/reciprocal_study.py ../shared/data/sequences/Crossing \
        --lams 0 1 5 --probe-frames 10 40 74

For each lambda it trains the first-frame classifier exactly as the tracker does (same
seed, samples, iterations) and reports:
  * at the untrained head, on one training batch: cross-entropy CE, regulariser R
    (Eq. 3/4), and the norms of the gradients of CE and of lambda*R with respect to the fc
    weights, i.e. which term steers the first SGD steps;
  * after training, on held-out first-frame samples: CE, R, and the mean positive-class
    attention statistics (sigma/mu of A_p on positives, which Eq. 3 drives down);
  * on later frames (ground-truth boxes): mean score of positives (IoU >= 0.7) and of
    negatives (IoU < 0.3), and the fraction of negatives scoring above the median
    positive, i.e. how well the classifier still separates the target.
Prints one JSON object; no tracking, so it runs in minutes.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from rl_tracker_ros.core.attention import attention_maps, reciprocative_regulariser
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.crops import extract_crops, frame_to_tensor
from rl_tracker_ros.core.head import Classifier
from rl_tracker_ros.core.sampling import SampleGenerator, draw_samples
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_sequence


def samples(tracker: DATTracker, frame, box, rng, n_pos=64, n_neg=192):
    """Held-out positives (IoU >= 0.7) and negatives (IoU < 0.3) around ``box``."""
    size = (frame.shape[1], frame.shape[0])
    cfg = tracker.cfg
    pos = draw_samples(SampleGenerator("gaussian", size, cfg.trans_pos, cfg.scale_pos), box, n_pos, rng, (0.7, 1.0))
    neg = draw_samples(SampleGenerator("uniform", size, 1.5, 1.3), box, n_neg, rng, (0.0, 0.3))
    ft = frame_to_tensor(frame, tracker.device)
    crops = extract_crops(ft, np.concatenate([pos, neg]), cfg.crop_size, cfg.crop_padding)
    labels = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long()
    return crops, tracker._features(crops), labels


def loss_terms(tracker: DATTracker, crops, feats, labels, lam: float, grads: bool = False) -> dict:
    head = tracker.head
    head.eval()  # deterministic measurement: no dropout
    logits, a_pos, a_neg = attention_maps(tracker.trunk, head, crops, feats)
    ce = F.cross_entropy(logits, labels)
    r = reciprocative_regulariser(a_pos, a_neg, labels, tracker.cfg.attention_eps).mean()
    flat_p = a_pos[labels == 1].flatten(1)
    out = {"ce": float(ce.detach()), "R": float(r.detach()),
           "sigma_over_mu_Ap_on_positives": float((flat_p.std(1, unbiased=False) / flat_p.mean(1)).mean().detach())}
    if grads:
        params = [p for p in head.parameters()]
        g_ce = torch.autograd.grad(ce, params, retain_graph=True)
        # R depends on the fc weights only through dF/dfeatures: fc6's bias gets no gradient.
        g_r = [torch.zeros_like(p) if g is None else g
               for p, g in zip(params, torch.autograd.grad(r, params, allow_unused=True))]
        out["grad_norm_ce"] = float(torch.sqrt(sum((g ** 2).sum() for g in g_ce)))
        out["grad_norm_R"] = float(torch.sqrt(sum((g ** 2).sum() for g in g_r)))
        cos = sum((a * b).sum() for a, b in zip(g_ce, g_r)) / (out["grad_norm_ce"] * out["grad_norm_R"] + 1e-12)
        out["cosine_grad_ce_grad_R"] = float(cos)
    return out


def separation(tracker: DATTracker, frame, box, rng) -> dict:
    crops, feats, labels = samples(tracker, frame, box, rng)
    with torch.no_grad():
        s = tracker.head(feats)[:, 1]
    sp, sn = s[labels == 1], s[labels == 0]
    return {"mean_pos_score": round(float(sp.mean()), 3), "mean_neg_score": round(float(sn.mean()), 3),
            "neg_above_median_pos": round(float((sn > sp.median()).float().mean()), 4)}


def trace(tracker: DATTracker, seq, n: int) -> dict:
    """Track frames 1..n after initialize(): per-frame score, state and IoU."""
    from rl_tracker_ros.core.boxes import iou

    rows = []
    for i, frame in enumerate(seq):
        if i == 0:
            continue
        if i > n:
            break
        r = tracker.track(frame)
        rows.append((i, round(r.score, 3), r.state.value, round(float(iou(r.box, seq.groundtruth[i])[0]), 3)))
    failures = [i for i, _, state, _ in rows if state != "tracking"]
    return {"first_failure": failures[0] if failures else None, "failures": len(failures),
            "mean_iou": round(float(np.mean([r[3] for r in rows])), 3), "frames": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequence")
    ap.add_argument("--lams", nargs="*", type=float, default=[0.0, 5.0])
    ap.add_argument("--probe-frames", nargs="*", type=int, default=[10, 40, 74])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--track", type=int, default=0,
                    help="then track this many frames and trace score, state and IoU per frame")
    args = ap.parse_args()

    seq = load_sequence(args.sequence)
    frames = {i: f for i, f in enumerate(seq) if i == 0 or i in args.probe_frames}
    if args.track:  # tracking from frame 0 continues from the trained first-frame model
        args.probe_frames = [i for i in args.probe_frames if i == 0]
    report = {"sequence": seq.name, "lambdas": {}}
    for lam in args.lams:
        tracker = DATTracker(TrackerConfig(lam=lam, weights=args.weights))
        rng = np.random.default_rng(123)
        held_out = samples(tracker, frames[0], seq.groundtruth[0], rng)
        # The untrained head, drawn as initialize() draws it (same seed).
        tracker.head = Classifier(tracker.feature_dim, tracker.cfg.hidden_dim, tracker.cfg.dropout)
        tracker.head.reset(torch.Generator().manual_seed(tracker.cfg.seed))
        tracker.head.to(tracker.device)
        start = loss_terms(tracker, *held_out, lam, grads=True)
        tracker.initialize(frames[0], seq.groundtruth[0])
        trained = loss_terms(tracker, *held_out, lam)
        entry = {"untrained": {k: round(v, 5) for k, v in start.items()},
                 "trained_frame0_held_out": {k: round(v, 5) for k, v in trained.items()},
                 "later_frames": {i: separation(tracker, frames[i], seq.groundtruth[i], rng)
                                  for i in args.probe_frames if i in frames}}
        if args.track:
            entry["trace"] = trace(tracker, seq, args.track)
        entry["untrained"]["grad_norm_lambda_R_over_ce"] = round(lam * start["grad_norm_R"] / start["grad_norm_ce"], 3)
        report["lambdas"][str(lam)] = entry
        print(json.dumps({lam: entry}), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
