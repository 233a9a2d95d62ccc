"""Online training of the classifier: sample memories and the SGD loop with hard
negative mining and the reciprocative loss."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, Iterator, Optional

import torch
import torch._dynamo  # noqa: F401  torch.optim imports it lazily: 4 s inside the first init
from torch import nn

from .attention import attention_maps, feature_attention_maps, first_layer_attention, reciprocative_loss


@dataclass
class SampleSet:
    """Trunk features (N, D) and, when attention training needs them, the uint8 crops
    (N, 3, S, S) they came from, kept in memory so no frame is ever re-read."""

    feats: torch.Tensor
    crops: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    def take(self, idx: torch.Tensor) -> "SampleSet":
        return SampleSet(self.feats[idx], None if self.crops is None else self.crops[idx])

    @staticmethod
    def cat(sets) -> "SampleSet":
        sets = [s for s in sets if len(s)]
        if not sets:
            return SampleSet(torch.zeros(0))  # nothing to train on (the caller checks len)
        feats = torch.cat([s.feats for s in sets])
        crops = None if any(s.crops is None for s in sets) else torch.cat([s.crops for s in sets])
        return SampleSet(feats, crops)


class SampleMemory:
    """Per-frame positives (last ``n_pos_frames``) and negatives (last ``n_neg_frames``)."""

    def __init__(self, n_pos_frames: int, n_neg_frames: int):
        self.pos: Deque[SampleSet] = deque(maxlen=max(n_pos_frames, 1))
        self.neg: Deque[SampleSet] = deque(maxlen=max(n_neg_frames, 1))

    def add(self, pos: SampleSet, neg: SampleSet) -> None:
        if len(pos):
            self.pos.append(pos)
        if len(neg):
            self.neg.append(neg)

    def long_term(self):
        return SampleSet.cat(self.pos), SampleSet.cat(self.neg)

    def short_term(self, n_frames: int):
        recent = list(self.pos)[-n_frames:]
        return SampleSet.cat(recent), SampleSet.cat(self.neg)

    def clear(self) -> None:
        self.pos.clear()
        self.neg.clear()


def _cycling_batches(n: int, batch: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of indices into ``n`` items, reshuffled each pass."""
    buf = torch.empty(0, dtype=torch.long)
    while True:
        while len(buf) < batch:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:batch]
        buf = buf[batch:]


def make_optimizer(head: nn.Module, lr: float, fc6_mult: float, momentum: float, weight_decay: float):
    """SGD with momentum and weight decay (py-MDNet's). The fused kernel makes one pass
    over each weight instead of four with temporaries: fc4 is 9 MB, so on a CPU that is
    a few milliseconds a step, for the same arithmetic."""
    opt = torch.optim.SGD(head.param_groups(lr, fc6_mult), lr=lr, momentum=momentum,
                          weight_decay=weight_decay, fused=True)
    if hasattr(head, "weights_changed"):  # a head that keeps derived copies of its weights
        opt.register_step_post_hook(lambda *_: head.weights_changed())
    return opt


def clip_gradients(params, max_norm: float) -> None:
    """``clip_grad_norm_``'s clipping, without its pass over every gradient when the norm
    is within ``max_norm`` (a multiplication by 1, about 1 ms a step for an ensemble's
    4.5 M weights on a CPU). On a GPU the check would wait for the device, so there the
    gradients are always scaled, as ``clip_grad_norm_`` does."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads)
    if total.device.type == "cpu" and float(total) + 1e-6 <= max_norm:
        return  # clip_grads_with_norm_'s factor, min(1, max_norm / (total + 1e-6)), is 1
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)


def hardest_negatives(head: nn.Module, feats: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """Hard negative mining: the ``k`` candidates the classifier scores most positive."""
    head.eval()
    with torch.no_grad():
        scores = head(feats[candidates])[:, 1]
    return candidates[scores.topk(min(k, len(candidates))).indices]


def batch_loss(head: nn.Module, trunk: nn.Module, batch: SampleSet, labels: torch.Tensor, cfg,
               feature_shape=None) -> torch.Tensor:
    """Eq. 5 on one batch, with the attention maps ``cfg`` asks for (see
    :func:`train_classifier`). An ensemble (a head with ``member_logits``) sums its
    members' own cross-entropies, so each member's gradient is its own loss's; with lam > 0
    its maps (feature-level only) are those of its mean score."""
    ensemble = hasattr(head, "member_logits")
    if cfg.lam > 0 and ensemble and cfg.attention_layer != "features":
        raise ValueError("an ensemble of classifiers trains the reciprocative term at the features only "
                         "(attention_layer features)")
    if cfg.lam > 0 and cfg.attention_layer == "input" and batch.crops is None:
        raise RuntimeError("lam > 0 needs the training crops in the sample memory")
    if cfg.lam > 0 and cfg.attention_form == "official":
        logits = head(batch.feats)
        a_pos, a_neg = first_layer_attention(trunk, head, batch.crops, batch.feats)
    elif cfg.lam > 0 and cfg.attention_layer == "features":
        logits, a_pos, a_neg = feature_attention_maps(head, batch.feats, feature_shape)
    elif cfg.lam > 0:
        logits, a_pos, a_neg = attention_maps(trunk, head, batch.crops, batch.feats)
    else:
        logits = head.member_logits(batch.feats) if ensemble else head(batch.feats)
        a_pos = a_neg = None
    return reciprocative_loss(logits, labels, cfg.lam, a_pos, a_neg, cfg.attention_eps,
                              cfg.attention_form, cfg.loss_reduction)


def train_classifier(head: nn.Module, trunk: nn.Module, optimizer: torch.optim.Optimizer,
                     pos: SampleSet, neg: SampleSet, iters: int, cfg, gen: torch.Generator,
                     feature_shape=None) -> torch.Tensor:
    """``iters`` SGD steps of Eq. 5 on batches of ``batch_pos`` positives and the
    ``batch_neg`` hardest of ``batch_neg_cand`` negatives. Returns the last loss as a
    0-d tensor on the device (NaN when nothing was trained): reading it is left to the
    caller, so a GPU update never waits for the device inside the frame loop.

    The official form (``cfg.attention_form``) takes its maps at the trunk's first layer
    with the head in eval mode and the cross-entropy from a separate forward in train
    mode, as the authors' code does; the per-sample form's maps are over the crop pixels
    (``cfg.attention_layer == 'input'``, Eq. 2) or over the trunk's output cells, whose
    (C, k, k) shape is ``feature_shape``."""
    device = pos.feats.device
    last = torch.tensor(float("nan"), device=device)
    if len(pos) == 0 or len(neg) == 0:
        return last
    pos_it = _cycling_batches(len(pos), cfg.batch_pos, gen)
    neg_it = _cycling_batches(len(neg), max(cfg.batch_neg_cand, cfg.batch_neg), gen)
    params = [p for p in head.parameters() if p.requires_grad]
    for _ in range(iters):
        pi = next(pos_it).to(device)
        ni = next(neg_it).to(device)
        ni = hardest_negatives(head, neg.feats, ni, cfg.batch_neg)
        head.train()
        batch = SampleSet.cat([pos.take(pi), neg.take(ni)])
        labels = torch.cat([torch.ones(len(pi)), torch.zeros(len(ni))]).long().to(device)
        loss = batch_loss(head, trunk, batch, labels, cfg, feature_shape)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(params, cfg.grad_clip)
        optimizer.step()
        last = loss.detach()
    head.eval()
    return last
