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
        return torch.stack(self.member_logits(feats)).mean(dim=0)

    def member_logits(self, feats: torch.Tensor) -> List[torch.Tensor]:
        return [m(feats) for m in self.members]

    def param_groups(self, lr: float, fc6_mult: float) -> List[dict]:
        groups = [m.param_groups(lr, fc6_mult) for m in self.members]
        return [{"params": [p for g in groups for p in g[i]["params"]], "lr": groups[0][i]["lr"]} for i in range(2)]
