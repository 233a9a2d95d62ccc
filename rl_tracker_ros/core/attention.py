"""Reciprocative learning: attention maps from gradients, and their regulariser.

Two forms, chosen by ``TrackerConfig.attention_form``:

* ``official`` (the paper profile's default): what the authors' code computes
  (github shipubupt/NIPS2018, ``DAT/tracking/run_tracker.py``, as run on PyTorch 0.2,
  where the regulariser did train the classifier). The map of a sample and class c is
  the gradient of F_c with respect to the first convolution's output (pre-activation),
  squared and summed over channels (``first_layer_attention``); the regulariser is four
  ratios of sums over the batch (``batch_ratio_regulariser``), added to the
  cross-entropy summed over the batch. Attention passes run the head in eval mode.
* ``per_sample``: Eq. 2-5 of the paper as written, below.

Attention map (Eq. 2): A_c = dF_c / dI, the gradient of class score c with respect to
the input crop, keeping only the positive part; per pixel we sum it over the colour
channels, giving an (S, S) map per sample and class.

Regulariser (Eq. 3/4), per sample, with mu/sigma the mean and (population) standard
deviation of a map:
    positive sample:  R = sigma(A_p)/mu(A_p) + mu(A_n)/sigma(A_n)
    negative sample:  R = mu(A_p)/sigma(A_p) + sigma(A_n)/mu(A_n)
Loss (Eq. 5): L = CE + lambda * R, averaged over the batch.

The regulariser must train the classifier, so it has to be differentiable with
respect to the fc weights (double backprop, as the official code was on PyTorch 0.2;
on PyTorch 0.4 or newer that code needs ``create_graph=True``, without which its
regulariser is a constant). Because the trunk is frozen and the crop is data, A_c = relu(J^T g_c) with
J the trunk's Jacobian at the crop and g_c = dF_c/dfeatures a function of the fc
weights. ``TrunkInputGradient`` computes J^T g with one trunk forward and a VJP, and
backpropagates through it exactly with a JVP (forward-mode) instead of autograd's
generic double backward, which is several times slower through depthwise convs.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jvp


class TrunkInputGradient(torch.autograd.Function):
    """For a frozen ``trunk`` and fixed crops ``x``: g (K, B, D) -> J^T g (K, B, C, H, W).

    Backward: d/dg <J^T g, v> = J v, computed by ``torch.func.jvp`` at ``x``.

    ``from_first``: ``x`` is the first convolution's output and the map is taken there
    (the trunk's ``after_first`` part), instead of at the crop pixels.
    """

    @staticmethod
    def forward(ctx, g: torch.Tensor, x: torch.Tensor, trunk: nn.Module, from_first: bool = False) -> torch.Tensor:
        fn = trunk.after_first if from_first else trunk
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            if hasattr(trunk, "linearize"):  # piecewise-linear trunk: keep its gates
                feats, ctx.lin_state = trunk.linearize(xr, from_first=from_first)
            else:
                feats, ctx.lin_state = fn(xr), None
            outs = [torch.autograd.grad(feats, xr, grad_outputs=g[k], retain_graph=k + 1 < len(g))[0]
                    for k in range(len(g))]
        ctx.save_for_backward(x)
        ctx.trunk, ctx.fn = trunk, fn
        return torch.stack(outs)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        if ctx.lin_state is not None:
            tangents = [ctx.trunk.jvp(grad_out[k], ctx.lin_state) for k in range(len(grad_out))]
        else:
            tangents = [jvp(ctx.fn, (x,), (grad_out[k],))[1] for k in range(len(grad_out))]
        return torch.stack(tangents), None, None, None


def attention_maps(
    trunk: nn.Module,
    head: nn.Module,
    crops: torch.Tensor,
    feats: torch.Tensor | None = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits and the positive/negative attention maps of ``crops`` (B, 3, S, S).

    ``feats`` are the trunk features of ``crops`` if already known (the tracker caches
    them); the maps stay differentiable with respect to ``head``'s parameters.
    Returns (logits (B, 2), A_p (B, S, S), A_n (B, S, S)).
    """
    x = crops if crops.is_floating_point() else crops.float()
    if feats is None:
        with torch.no_grad():
            feats = trunk(x)
    f = feats.detach().requires_grad_(True)
    logits = head(f)
    g_pos = torch.autograd.grad(logits[:, 1].sum(), f, create_graph=True)[0]
    g_neg = torch.autograd.grad(logits[:, 0].sum(), f, create_graph=True)[0]
    grads = TrunkInputGradient.apply(torch.stack([g_pos, g_neg]), x, trunk)
    maps = grads.clamp(min=0).sum(dim=2)  # positive part, summed over colour channels
    return logits, maps[0], maps[1]


def first_layer_attention(trunk: nn.Module, head: nn.Module, crops: torch.Tensor,
                          feats: torch.Tensor | None = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The official code's maps of ``crops`` (B, 3, S, S): (A_p, A_n), each (B, h, w).

    A_c = sum over channels of (dF_c / dz)^2, z the trunk's first convolution output
    before its activation (VGG-M: conv1, 96 x 51 x 51 on a 107 crop, where the authors
    hooked it; MobileNet: its first 3x3/2 convolution, 32 x 54 x 54, the same place: the
    first layer, before the first nonlinearity). The head runs in eval mode (no
    dropout), as in the official code; the maps stay differentiable in its weights.
    """
    x = crops if crops.is_floating_point() else crops.float()
    with torch.no_grad():
        z = trunk.first_layer(x)
        if feats is None:
            feats = trunk.after_first(z)
    f = feats.detach().requires_grad_(True)
    was_training = head.training
    head.eval()
    try:
        logits = head(f)
        g_pos = torch.autograd.grad(logits[:, 1].sum(), f, create_graph=True)[0]
        g_neg = torch.autograd.grad(logits[:, 0].sum(), f, create_graph=True)[0]
    finally:
        head.train(was_training)
    grads = TrunkInputGradient.apply(torch.stack([g_pos, g_neg]), z, trunk, True)
    maps = grads.square().sum(dim=2)
    return maps[0], maps[1]


def feature_attention_maps(head: nn.Module, feats: torch.Tensor,
                           shape: Tuple[int, int, int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 2 one layer up, for the ``fast`` profile: maps over the trunk's output cells.

    The bare derivative dF_c / d(features) hardly depends on the sample (the head is
    nearly linear), so a regulariser on it only bends the weights (measured: lambda 1 on
    it collapses tracking). The map used here is the gradient times the feature,
    relu(sum over channels of f * dF_c/df) (Grad-CAM's form at the trunk output), which
    does depend on the sample; ``shape`` = (C, k, k) of the flat features. The maps need
    only the classifier's own double backprop, no trunk pass. Returns (logits, A_p, A_n).

    An ensemble (a head with ``member_logits``) is one classifier here, its mean logits:
    the maps are the ensemble's, and the logits returned are its members', (n, N, 2), for
    each member's own cross-entropy (:func:`reciprocative_loss`).
    """
    f = feats.detach().requires_grad_(True)
    out = head.member_logits(f) if hasattr(head, "member_logits") else head(f)
    logits = out.mean(dim=0) if out.dim() == 3 else out
    g_pos = torch.autograd.grad(logits[:, 1].sum(), f, create_graph=True)[0]
    g_neg = torch.autograd.grad(logits[:, 0].sum(), f, create_graph=True)[0]
    cams = (torch.stack([g_pos, g_neg]) * f.detach()).view(2, len(f), *shape).sum(dim=2).clamp(min=0)
    return out, cams[0].flatten(1), cams[1].flatten(1)


def _safe_stats(maps: torch.Tensor, eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std of each map, floored at ``eps`` so a flat (constant or
    all-zero) map gives a finite value and finite gradient; maps whose mean and std
    exceed ``eps`` are unaffected, bit for bit."""
    flat = maps.flatten(1)
    mu = flat.mean(dim=1)
    var = flat.var(dim=1, unbiased=False)
    return mu.clamp(min=eps), var.clamp(min=eps * eps).sqrt()


def reciprocative_regulariser(a_pos: torch.Tensor, a_neg: torch.Tensor, labels: torch.Tensor,
                              eps: float = 1e-8) -> torch.Tensor:
    """Per-sample R of Eq. 3 (labels == 1) and Eq. 4 (labels == 0)."""
    mu_p, sd_p = _safe_stats(a_pos, eps)
    mu_n, sd_n = _safe_stats(a_neg, eps)
    r_pos = sd_p / mu_p + mu_n / sd_n
    r_neg = mu_p / sd_p + sd_n / mu_n
    return torch.where(labels.bool(), r_pos, r_neg)


def batch_ratio_regulariser(a_pos: torch.Tensor, a_neg: torch.Tensor, labels: torch.Tensor,
                            eps: float = 1e-8) -> torch.Tensor:
    """The official code's R: four ratios of sums over the batch (one 0-d tensor),

        R = S(sd A_p | +)/S(mu A_p | +) + S(mu A_n | +)/S(sd A_n | +)
          + S(sd A_n | -)/S(mu A_n | -) + S(mu A_p | -)/S(sd A_p | -),

    S(. | +) summing over the positives (labels == 1), S(. | -) over the negatives:
    Eq. 3 for the positives and Eq. 4 for the negatives, as ratios of sums instead of a
    mean of per-sample ratios. R does not change when all maps are scaled by one
    constant, so the maps are first divided by their (detached) batch mean: squared
    gradients can be 1e-10 and smaller, and the ``eps`` floor on means and deviations
    must not touch real maps. A group with no samples adds nothing."""
    scale = torch.cat([a_pos.flatten(), a_neg.flatten()]).detach().mean().clamp(min=torch.finfo(a_pos.dtype).tiny)
    mu_p, sd_p = _safe_stats(a_pos / scale, eps)
    mu_n, sd_n = _safe_stats(a_neg / scale, eps)
    pos = labels.bool()
    neg = ~pos

    def ratio(num: torch.Tensor, den: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        return num[group].sum() / den[group].sum().clamp(min=eps)

    return (ratio(sd_p, mu_p, pos) + ratio(mu_n, sd_n, pos)
            + ratio(sd_n, mu_n, neg) + ratio(mu_p, sd_p, neg))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Two-class cross-entropy, averaged (``mean``) or summed over the batch (``sum``: the
    official code's, py-MDNet's ``BinaryLoss``)."""
    return F.cross_entropy(logits, labels.long(), reduction=reduction)


def reciprocative_loss(logits: torch.Tensor, labels: torch.Tensor, lam: float,
                       a_pos: torch.Tensor | None = None, a_neg: torch.Tensor | None = None,
                       eps: float = 1e-8, form: str = "per_sample", reduction: str = "mean") -> torch.Tensor:
    """Eq. 5: cross-entropy (``reduction`` over the batch) + ``lam`` R, with R the mean of
    the per-sample regulariser (``form='per_sample'``) or the batch-ratio one
    (``'official'``). With ``lam == 0`` this is exactly the MDNet loss, and the maps are
    not needed. ``logits`` (n, N, 2), an ensemble's members', give the sum of the members'
    own cross-entropies (each member's gradient is its own loss's), maps being the
    ensemble's."""
    ce = (sum(cross_entropy(m, labels, reduction) for m in logits) if logits.dim() == 3
          else cross_entropy(logits, labels, reduction))
    if lam == 0:
        return ce
    if a_pos is None or a_neg is None:
        raise ValueError("lam > 0 needs the attention maps")
    if form == "official":
        return ce + lam * batch_ratio_regulariser(a_pos, a_neg, labels, eps)
    if form != "per_sample":
        raise ValueError(f"unknown attention form {form!r} (official, per_sample)")
    return ce + lam * reciprocative_regulariser(a_pos, a_neg, labels, eps).mean()


def box_attention(trunk: nn.Module, head: nn.Module, crop: torch.Tensor) -> torch.Tensor:
    """The positive-class attention map of one crop (1, 3, S, S) for display: (S, S).

    No double backprop here: a single input gradient, head in eval mode.
    """
    x = (crop if crop.is_floating_point() else crop.float()).requires_grad_(True)
    with torch.enable_grad():
        score = head(trunk(x))[:, 1].sum()
        (g,) = torch.autograd.grad(score, x)
    return g.clamp(min=0).sum(dim=1)[0].detach()
