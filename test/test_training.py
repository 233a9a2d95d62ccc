"""Sample memory bounds, hard negative mining and the SGD loop."""
import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.head import Classifier
from rl_tracker_ros.core.training import (SampleMemory, SampleSet, hardest_negatives, make_optimizer,
                                          train_classifier)


def test_memory_keeps_the_last_frames_only():
    mem = SampleMemory(n_pos_frames=3, n_neg_frames=2)
    for i in range(5):
        mem.add(SampleSet(torch.full((2, 4), float(i))), SampleSet(torch.full((3, 4), float(i))))
    pos, neg = mem.long_term()
    assert pos.feats[:, 0].tolist() == [2, 2, 3, 3, 4, 4]
    assert neg.feats[:, 0].unique().tolist() == [3, 4]
    short_pos, _ = mem.short_term(1)
    assert short_pos.feats[:, 0].tolist() == [4, 4]


def test_hard_negative_mining_picks_the_most_positive_scores():
    head = Classifier(2, hidden=4, dropout=0.0)
    with torch.no_grad():  # positive logit = relu path of feature 0
        head.fc4.weight.zero_(); head.fc4.bias.zero_(); head.fc4.weight[0, 0] = 1
        head.fc5.weight.zero_(); head.fc5.bias.zero_(); head.fc5.weight[0, 0] = 1
        head.fc6.weight.zero_(); head.fc6.bias.zero_(); head.fc6.weight[1, 0] = 1
    feats = torch.tensor([[0.1, 0], [5.0, 0], [0.3, 0], [2.0, 0], [9.0, 0]])
    picked = hardest_negatives(head, feats, torch.tensor([0, 1, 2, 3]), 2)
    assert sorted(picked.tolist()) == [1, 3]  # index 4 is not a candidate


def test_training_separates_positives_from_negatives():
    g = torch.Generator().manual_seed(0)
    pos = SampleSet(torch.randn(100, 16, generator=g) + 2)
    neg = SampleSet(torch.randn(400, 16, generator=g) - 2)
    head = Classifier(16, hidden=32)
    head.reset(g)
    cfg = TrackerConfig(lam=0.0, batch_neg_cand=64)
    opt = make_optimizer(head, 1e-2, 10, 0.9, 5e-4)
    first = train_classifier(head, None, opt, pos, neg, 1, cfg, g)
    last = train_classifier(head, None, opt, pos, neg, 60, cfg, g)
    assert last < first
    with torch.no_grad():
        assert head(pos.feats)[:, 1].mean() > head(neg.feats)[:, 1].mean() + 1
