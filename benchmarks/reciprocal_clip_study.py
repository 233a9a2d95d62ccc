"""How much would the official code's clip (fc + conv gradients of lam*R, norm 10) shrink
the fc step? One first-frame batch on Crossing (32 positives, 32 negatives), MobileNet, official form,
lam 5, after 1 and 50 first-frame steps.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reciprocal_clip_study.py > results/reciprocal/clip_study.json
"""
import json

import numpy as np
import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.attention import batch_ratio_regulariser, cross_entropy
from rl_tracker_ros.core.crops import extract_crops, frame_to_tensor
from rl_tracker_ros.core.sampling import SampleGenerator, draw_samples
from rl_tracker_ros.media.sequences import load_otb
torch.set_num_threads(1)
seq = load_otb("../shared/data/sequences/Crossing"); frame = next(iter(seq)); box = seq.groundtruth[0]
out = {}
for iters in (1, 50):
    tr = DATTracker(TrackerConfig.preset("paper", device="cpu", iters_init=iters))
    tr.initialize(frame, box)
    rng = np.random.default_rng(0); size = (frame.shape[1], frame.shape[0])
    pos = draw_samples(SampleGenerator("gaussian", size, 0.1, 1.3), box, 32, rng, (0.7, 1.0))
    neg = draw_samples(SampleGenerator("uniform", size, 1.0, 1.6), box, 32, rng, (0.0, 0.5))
    crops = extract_crops(frame_to_tensor(frame, tr.device), np.concatenate([pos, neg]), 107, 16).float()
    labels = torch.cat([torch.ones(32), torch.zeros(32)]).long()
    trunk, head = tr.trunk, tr.head
    for p in trunk.parameters(): p.requires_grad_(True)
    z = trunk.first_layer(crops)
    feats = trunk.after_first(z)
    head.eval()
    logits = head(feats.detach())
    zr = z.detach().requires_grad_(True)
    f2 = trunk.after_first(zr)  # graph through the trunk weights
    lg = head(f2)
    gp = torch.autograd.grad(lg[:, 1].sum(), zr, create_graph=True)[0]
    gn = torch.autograd.grad(lg[:, 0].sum(), zr, create_graph=True)[0]
    R = batch_ratio_regulariser(gp.square().sum(1), gn.square().sum(1), labels)
    head.train()
    ce = cross_entropy(head(feats.detach()), labels, "sum")
    fc = [p for p in head.parameters()]
    conv = [p for p in trunk.parameters()]
    g_ce = torch.autograd.grad(ce, fc)
    g_r_fc = torch.autograd.grad(5 * R, fc, retain_graph=True, allow_unused=True)
    g_r_conv = torch.autograd.grad(5 * R, conv, allow_unused=True)
    n = lambda gs: float(torch.sqrt(sum((g ** 2).sum() for g in gs if g is not None)))
    fc_total = n([a + (b if b is not None else 0) for a, b in zip(g_ce, g_r_fc)])
    conv_n = n(g_r_conv)
    total = (fc_total ** 2 + conv_n ** 2) ** 0.5
    out[f"after_{iters}_steps"] = {"ce_sum": float(ce.detach()), "R": float(R.detach()), "fc_grad_norm": fc_total, "conv_grad_norm_of_lamR": conv_n,
        "fc_step_scale_ours": min(1, 10 / fc_total), "fc_step_scale_official": min(1, 10 / total)}
    for p in trunk.parameters(): p.requires_grad_(False)
print(json.dumps(out, indent=1))
