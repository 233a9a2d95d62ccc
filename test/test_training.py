"""Sample memory bounds, hard negative mining and the SGD loop."""
import pytest
import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.head import Classifier, Ensemble, SplitEnsemble
from rl_tracker_ros.core.training import (SampleMemory, SampleSet, clip_gradients, hardest_negatives, make_optimizer,
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


def test_an_ensemble_scores_the_mean_of_its_members_and_trains_each_on_its_own_loss():
    g = torch.Generator().manual_seed(0)
    pos = SampleSet(torch.randn(100, 16, generator=g) + 2)
    neg = SampleSet(torch.randn(400, 16, generator=g) - 2)
    members = [Classifier(16, hidden=32, dropout=0.0) for _ in range(2)]
    ens = Ensemble(members)
    ens.reset(g)
    assert not torch.equal(members[0].fc4.weight, members[1].fc4.weight)  # drawn apart
    x = torch.randn(5, 16, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(ens(x), (members[0](x) + members[1](x)) / 2)
    # Training the ensemble on a batch gives each member the gradient of its own loss.
    cfg = TrackerConfig(lam=0.0, batch_neg_cand=64, batch_pos=32, batch_neg=32, grad_clip=1e9)
    before = [m.fc6.weight.detach().clone() for m in members]
    alone = Classifier(16, hidden=32, dropout=0.0)
    alone.load_state_dict(members[1].state_dict())
    opt = torch.optim.SGD(ens.param_groups(1e-2, 10)[0]["params"] + ens.param_groups(1e-2, 10)[1]["params"], lr=0.1)
    ens.train()
    logits = ens.member_logits(pos.feats[:8])
    loss = sum(torch.nn.functional.cross_entropy(l, torch.ones(8, dtype=torch.long)) for l in logits)
    opt.zero_grad(); loss.backward()
    alone_loss = torch.nn.functional.cross_entropy(alone(pos.feats[:8]), torch.ones(8, dtype=torch.long))
    alone_loss.backward()
    torch.testing.assert_close(members[1].fc6.weight.grad, alone.fc6.weight.grad)
    # And the training loop separates the classes with every member.
    opt = make_optimizer(ens, 1e-2, 10, 0.9, 5e-4)
    train_classifier(ens, None, opt, pos, neg, 60, cfg, g)
    with torch.no_grad():
        for m, b in zip(members, before):
            assert not torch.equal(m.fc6.weight, b)
            assert m(pos.feats)[:, 1].mean() > m(neg.feats)[:, 1].mean() + 1


def test_a_split_ensemble_reads_each_members_own_channels_and_trains_each_on_its_own_loss():
    g = torch.Generator().manual_seed(0)
    channels, cells = 6, 4  # features are channel-major: channel c holds [c * cells, (c + 1) * cells)
    ens = SplitEnsemble(channels * cells, channels, 3, hidden=16, dropout=0.0)
    ens.reset(g)
    assert not torch.equal(ens.w4[0], ens.w4[1])  # drawn apart
    x = torch.randn(5, channels * cells, generator=g)
    with torch.no_grad():
        member = ens.member_logits(x)  # (3, 5, 2)
        torch.testing.assert_close(ens(x), member.mean(dim=0))
        # Member 1 reads channels 2 and 3 only: changing anything else leaves it as it was.
        y = x.clone()
        y[:, :2 * cells] += 5.0
        y[:, 4 * cells:] -= 5.0
        after = ens.member_logits(y)
        torch.testing.assert_close(after[1], member[1])
        assert not torch.allclose(after[0], member[0]) and not torch.allclose(after[2], member[2])
        # ... and is the classifier fc4-fc6 on those channels.
        alone = Classifier(2 * cells, hidden=16, dropout=0.0)
        for fc, w, b in ((alone.fc4, ens.w4, ens.b4), (alone.fc5, ens.w5, ens.b5), (alone.fc6, ens.w6, ens.b6)):
            fc.weight.copy_(w[1].t())
            fc.bias.copy_(b[1, 0])
        torch.testing.assert_close(alone(x[:, 2 * cells:4 * cells]), member[1])
    # One member's loss moves only that member's weights.
    loss = torch.nn.functional.cross_entropy(ens.member_logits(x)[2], torch.ones(5, dtype=torch.long))
    loss.backward()
    assert ens.w4.grad[:2].abs().sum() == 0 and ens.w4.grad[2].abs().sum() > 0
    # The training loop separates the classes with every member.
    pos = SampleSet(torch.randn(100, channels * cells, generator=g) + 2)
    neg = SampleSet(torch.randn(400, channels * cells, generator=g) - 2)
    cfg = TrackerConfig(lam=0.0, batch_neg_cand=64)
    train_classifier(ens, None, make_optimizer(ens, 1e-2, 10, 0.9, 5e-4), pos, neg, 60, cfg, g)
    with torch.no_grad():
        margins = ens.member_logits(pos.feats)[:, :, 1].mean(1) - ens.member_logits(neg.feats)[:, :, 1].mean(1)
    assert (margins > 1).all(), margins


def test_a_split_ensembles_dropout_drops_at_its_rate_and_keeps_the_mean():
    # Its masks come from random bytes: the keep rate in 256ths (0.7 -> 179 / 256), and
    # kept units scaled by that rate's inverse, so the mean is kept exactly in expectation.
    ens = SplitEnsemble(8, 2, 2, hidden=4, dropout=0.3)
    h = torch.ones(4, 256, 512)
    torch.manual_seed(0)
    ens.train()
    out = ens._drop(h)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.005
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 256 / 179))
    assert abs(out.mean().item() - 1.0) < 0.01
    # The default rate, 0.5, is exact: half the bytes, kept units doubled.
    half = SplitEnsemble(8, 2, 2, hidden=4, dropout=0.5).train()._drop(h)
    assert abs((half == 0).float().mean().item() - 0.5) < 0.005
    torch.testing.assert_close(half[half != 0], torch.full_like(half[half != 0], 2.0))
    # Masks differ from draw to draw, and follow torch's seed.
    torch.manual_seed(1)
    a = ens._drop(h)
    torch.manual_seed(1)
    assert torch.equal(a, ens._drop(h)) and not torch.equal(a, ens._drop(h))
    ens.eval()
    assert ens._drop(h) is h


def test_a_split_ensemble_scores_in_bfloat16_and_trains_in_float32():
    # head_precision bfloat16: scoring and mining (no gradients) run fc4 / fc5 on a bfloat16
    # copy of the weights, made again whenever a step changes them; training steps are
    # float32, so a step is exactly the float32 one.
    g = torch.Generator().manual_seed(0)
    fp32 = SplitEnsemble(64, 8, 4, hidden=32, dropout=0.0)
    fp32.reset(g)
    bf16 = SplitEnsemble(64, 8, 4, hidden=32, dropout=0.0, precision=torch.bfloat16)
    bf16.load_state_dict(fp32.state_dict())
    x = torch.randn(20, 64, generator=g)
    with torch.no_grad():
        exact, low = fp32(x), bf16(x)
    assert low.dtype == torch.float32 and not torch.equal(low, exact)
    torch.testing.assert_close(low, exact, atol=0.02, rtol=0.02)
    assert bf16._cast[1][1].dtype == torch.bfloat16
    labels = torch.arange(20) % 2
    for head in (fp32, bf16):
        opt = make_optimizer(head, 1e-1, 10, 0.9, 5e-4)
        torch.nn.functional.cross_entropy(head(x), labels).backward()
        opt.step()
    assert bf16.w4.dtype == torch.float32
    torch.testing.assert_close(bf16.w4, fp32.w4, atol=0, rtol=0)  # the same float32 step
    with torch.no_grad():  # the cached copy follows the step
        torch.testing.assert_close(bf16(x), fp32(x), atol=0.02, rtol=0.02)
        assert not torch.equal(bf16(x), low)
        torch.testing.assert_close(bf16._cast[1][1], bf16.w4.to(torch.bfloat16), atol=0, rtol=0)


@pytest.mark.parametrize("unit", ["_is_amx_tile_supported", "_is_avx512_bf16_supported"])
def test_precision_auto_is_bfloat16_only_on_a_cpu_with_bfloat16_units(monkeypatch, unit):
    from rl_tracker_ros.core.config import resolve_precision
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, unit, lambda: True, raising=False)
    assert resolve_precision("auto", torch.device("cpu")) == torch.bfloat16
    assert resolve_precision("auto", torch.device("cuda")) == torch.float32
    monkeypatch.setattr(torch.cpu, unit, lambda: False, raising=False)
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)  # a torch without them
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="head_precision"):
        TrackerConfig(head_precision="float16")
    assert TrackerConfig(trunk_precision="auto").trunk_precision == "auto"


def test_a_split_ensemble_needs_members_and_whole_channels():
    with pytest.raises(ValueError, match="ensemble_split"):
        TrackerConfig.preset("fast", n_heads=3, ensemble_split=True, ensemble_updates="one")
    assert TrackerConfig.preset("fast", n_heads=3, ensemble_split=False, ensemble_updates="one").n_heads == 3
    with pytest.raises(ValueError, match="channels"):
        SplitEnsemble(10, 3, 2)


def test_an_ensemble_takes_the_reciprocative_term_at_the_features_only():
    with pytest.raises(ValueError, match="n_heads"):
        TrackerConfig.preset("paper", n_heads=2, lam=1.0)  # maps below the features
    with pytest.raises(ValueError, match="n_heads"):
        TrackerConfig.preset("fast", n_heads=0)
    assert TrackerConfig.preset("fast", n_heads=2, lam=1.0).lam == 1.0


@pytest.mark.parametrize("split", [False, True])
def test_an_ensembles_reciprocative_loss_is_its_members_cross_entropies_plus_lam_times_its_own_maps(split):
    from rl_tracker_ros.core.attention import cross_entropy, feature_attention_maps, reciprocative_regulariser
    from rl_tracker_ros.core.training import batch_loss

    g = torch.Generator().manual_seed(0)
    shape = (4, 2, 2)
    head = (SplitEnsemble(16, 4, 2, hidden=8, dropout=0.0) if split
            else Ensemble([Classifier(16, hidden=8, dropout=0.0) for _ in range(2)]))
    head.reset(g)
    feats = torch.randn(6, 16, generator=g).abs()
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    cfg = TrackerConfig.preset("fast", n_heads=2, lam=2.0)
    loss = batch_loss(head, None, SampleSet(feats), labels, cfg, shape)
    members = head.member_logits(feats)
    _, a_pos, a_neg = feature_attention_maps(head, feats, shape)
    expected = (sum(cross_entropy(m, labels) for m in members)
                + 2.0 * reciprocative_regulariser(a_pos, a_neg, labels, cfg.attention_eps).mean())
    torch.testing.assert_close(loss, expected)
    # The maps are the ensemble's: the gradient of its mean score, times the features.
    f = feats.clone().requires_grad_(True)
    grad = torch.autograd.grad(head(f)[:, 1].sum(), f)[0]
    torch.testing.assert_close(a_pos, (grad * feats).view(6, *shape).sum(1).clamp(min=0).flatten(1))
    loss.backward()  # the regulariser trains the weights (double backprop)
    assert all(p.grad is not None for p in head.parameters())


def test_clip_gradients_clips_as_clip_grad_norm_does_above_the_limit_and_leaves_them_below():
    g = torch.Generator().manual_seed(0)
    for scale, max_norm in ((100.0, 1.0), (0.01, 10.0)):
        grads = [torch.randn(5, 7, generator=g) * scale, torch.randn(3, generator=g) * scale]
        ours = [torch.zeros_like(t, requires_grad=True) for t in grads]
        ref = [torch.zeros_like(t, requires_grad=True) for t in grads]
        for p, r, gr in zip(ours, ref, grads):
            p.grad, r.grad = gr.clone(), gr.clone()
        clip_gradients(ours, max_norm)
        torch.nn.utils.clip_grad_norm_(ref, max_norm)
        for p, r in zip(ours, ref):
            torch.testing.assert_close(p.grad, r.grad)
        norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours])).item()
        assert norm <= max_norm * (1 + 1e-5)
        if scale < 1:  # within the limit: untouched
            assert all(torch.equal(p.grad, gr) for p, gr in zip(ours, grads))
