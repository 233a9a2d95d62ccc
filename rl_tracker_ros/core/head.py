"""The online-trained classifier: fc4 -> fc5 -> fc6 (MDNet/DAT), two logits (neg, pos)."""
from __future__ import annotations

from typing import List

import torch
from torch import nn


class Classifier(nn.Module):
    """fc4 (D -> 512) ReLU, dropout, fc5 (512 -> 512) ReLU, dropout, fc6 (512 -> 2).

    Logit 1 is the target (positive) score the tracker ranks candidates by.
    """

    def __init__(self, in_dim: int, hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        self.fc4 = nn.Linear(in_dim, hidden)
        self.fc5 = nn.Linear(hidden, hidden)
        self.fc6 = nn.Linear(hidden, 2)
        self.drop = nn.Dropout(dropout)
        self.reset()

    def reset(self, generator: torch.Generator | None = None) -> None:
        """Re-draw all weights (py-MDNet init: N(0, 0.01) weights, 0.1 biases)."""
        for fc in (self.fc4, self.fc5, self.fc6):
            with torch.no_grad():
                fc.weight.normal_(0.0, 0.01, generator=generator)
                fc.bias.fill_(0.1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc4(feats))
        x = torch.relu(self.fc5(self.drop(x)))
        return self.fc6(self.drop(x))

    def param_groups(self, lr: float, fc6_mult: float) -> List[dict]:
        return [
            {"params": list(self.fc4.parameters()) + list(self.fc5.parameters()), "lr": lr},
            {"params": list(self.fc6.parameters()), "lr": lr * fc6_mult},
        ]


class Ensemble(nn.Module):
    """``n`` classifiers drawn and trained apart, scored as one: the mean of their logits.

    Why: one online classifier's run depends on its random start and its dropout draws, and
    on a hard stretch (a pose change, a similar object) one run drifts where another holds.
    Averaging independent members' scores narrows that spread. Training sums the members'
    own losses on the same batch, so each member's gradient is its own loss's.
    """

    def __init__(self, members: List[Classifier]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def reset(self, generator: torch.Generator | None = None) -> None:
        for m in self.members:
            m.reset(generator)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.member_logits(feats).mean(dim=0)

    def member_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, N, 2): each member's logits."""
        return torch.stack([m(feats) for m in self.members])

    def param_groups(self, lr: float, fc6_mult: float) -> List[dict]:
        groups = [m.param_groups(lr, fc6_mult) for m in self.members]
        return [{"params": [p for g in groups for p in g[i]["params"]], "lr": groups[0][i]["lr"]} for i in range(2)]


class SplitEnsemble(nn.Module):
    """``n`` classifiers, each reading its own share of the trunk's channels (a contiguous
    block of ``channels // n``, the last ``channels % n`` read by none; cells of a channel
    stay together), run as one batched product and scored as one: the mean of their logits.

    Why: an ensemble of full classifiers (:class:`Ensemble`) is robust but costs ``n``
    classifiers' work a step, which a CPU at 30 Hz cannot give. Members on disjoint
    channel shares (the random-subspace method) differ by what they see as well as by
    their start, and together their fc4 is one full classifier's size.
    """

    def __init__(self, in_dim: int, channels: int, n: int, hidden: int = 512, dropout: float = 0.5,
                 precision: torch.dtype = torch.float32):
        super().__init__()
        if in_dim % channels or channels < n:
            raise ValueError(f"SplitEnsemble: {in_dim} features are not {channels} channels of equal cells, "
                             f"or fewer channels than {n} members")
        self.n, self.cells, self.share = n, in_dim // channels, channels // n
        d = self.share * self.cells
        self.w4 = nn.Parameter(torch.empty(n, d, hidden))
        self.b4 = nn.Parameter(torch.empty(n, 1, hidden))
        self.w5 = nn.Parameter(torch.empty(n, hidden, hidden))
        self.b5 = nn.Parameter(torch.empty(n, 1, hidden))
        self.w6 = nn.Parameter(torch.empty(n, hidden, 2))
        self.b6 = nn.Parameter(torch.empty(n, 1, 2))
        self.p = dropout
        self.precision = precision
        self._cast: tuple = ((), ())  # (key, weights): the no-grad copy in ``precision``
        self.reset()

    def reset(self, generator: torch.Generator | None = None) -> None:
        """py-MDNet's init for every member: N(0, 0.01) weights, 0.1 biases."""
        with torch.no_grad():
            for w, b in ((self.w4, self.b4), (self.w5, self.b5), (self.w6, self.b6)):
                w.normal_(0.0, 0.01, generator=generator)
                b.fill_(0.1)

    def member_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, N, 2): each member's logits on its own channels."""
        x = feats[:, :self.n * self.share * self.cells].reshape(len(feats), self.n, -1).transpose(0, 1)
        b4, w4, b5, w5 = self._product_weights()
        h = torch.relu(torch.baddbmm(b4, x.to(w4.dtype), w4))
        h = torch.relu(torch.baddbmm(b5, self._drop(h), w5))
        return torch.baddbmm(self.b6, self._drop(h).to(self.w6.dtype), self.w6)

    def _product_weights(self) -> tuple:
        """fc4's and fc5's weights for this call: float32 when training, and without
        gradients (scoring candidates, mining hard negatives) a copy in ``precision``, made
        once per change of the weights. Why: bfloat16 products on a CPU with AMX tiles
        are about three times faster, and a widened search scores up to 256 candidates a
        frame; training steps stay float32 (in bfloat16 their backward pass, with the
        casts of the gradients, was no faster on this CPU). fc6, which sets the scores'
        resolution, stays float32."""
        weights = (self.b4, self.w4, self.b5, self.w5)
        if self.precision == self.w4.dtype or torch.is_grad_enabled():
            return weights
        key = tuple((w.data_ptr(), w._version) for w in weights)
        if self._cast[0] != key:
            self._cast = (key, tuple(w.detach().to(self.precision) for w in weights))
        return self._cast[1]

    def weights_changed(self) -> None:
        """Drop the reduced-precision copy: called after every optimiser step
        (:func:`training.make_optimizer` hooks it), because torch's fused SGD updates the
        weights in place without advancing their version counters, which catch every
        other in-place change (``reset``, ``load_state_dict``). An empty key matches none."""
        self._cast = ((), ())

    def _drop(self, h: torch.Tensor) -> torch.Tensor:
        """Dropout (in training mode) from random bytes: a unit is kept when its byte is below
        ``keep_bytes`` (the keep rate in 256ths, exact for the default 0.5), and kept units
        are scaled by the inverse of that rate, so the mean is kept in expectation. Why: on a
        CPU torch's Bernoulli draws took 3 ms for a step's 8 x 64 x 512 units and uniform
        floats 1.5 ms, a quarter of an eight-member first frame; one random int64 gives eight
        units' bytes (0.3 ms)."""
        if not self.training or self.p == 0:
            return h
        keep_bytes = round((1.0 - self.p) * 256)
        if keep_bytes >= 256:  # a rate below 1/512 rounds to keeping every unit
            return h
        if keep_bytes == 0:
            return torch.zeros_like(h)
        n = h.numel()
        words = torch.randint(-2 ** 63, 2 ** 63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=h.device)
        bytes_ = words.view(torch.uint8)[:n].view(h.shape)
        return h * (bytes_ < keep_bytes).to(h.dtype).mul_(256.0 / keep_bytes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.member_logits(feats).mean(dim=0)

    def param_groups(self, lr: float, fc6_mult: float) -> List[dict]:
        return [{"params": [self.w4, self.b4, self.w5, self.b5], "lr": lr},
                {"params": [self.w6, self.b6], "lr": lr * fc6_mult}]
