"""Reciprocative learning: Eq. 2-5, double backprop, and the flat-map guard."""

import pytest
import torch
import torch.nn.functional as F

from rl_tracker_ros.core.attention import (TrunkInputGradient, attention_maps, reciprocative_loss,
                                           reciprocative_regulariser)
from rl_tracker_ros.core.head import Classifier

from conftest import TinyTrunk


def _pop_stats(m):
    m = m.flatten().double()
    mu = m.mean()
    return mu, ((m - mu) ** 2).mean().sqrt()


def test_eq3_and_eq4_on_hand_made_maps():
    a_p = torch.tensor([[[1.0, 3.0], [1.0, 3.0]]])   # mean 2, population std 1
    a_n = torch.tensor([[[0.0, 4.0], [0.0, 4.0]]])   # mean 2, population std 2
    r_pos = reciprocative_regulariser(a_p, a_n, torch.tensor([1]))
    r_neg = reciprocative_regulariser(a_p, a_n, torch.tensor([0]))
    assert r_pos.item() == pytest.approx(1 / 2 + 2 / 2)    # sigma_p/mu_p + mu_n/sigma_n
    assert r_neg.item() == pytest.approx(2 / 1 + 2 / 2)    # mu_p/sigma_p + sigma_n/mu_n


def test_regulariser_matches_formula_on_random_maps():
    g = torch.Generator().manual_seed(3)
    a_p, a_n = torch.rand(4, 9, 9, generator=g), torch.rand(4, 9, 9, generator=g) * 3
    labels = torch.tensor([1, 0, 1, 0])
    r = reciprocative_regulariser(a_p, a_n, labels)
    for i in range(4):
        mp, sp = _pop_stats(a_p[i])
        mn, sn = _pop_stats(a_n[i])
        want = sp / mp + mn / sn if labels[i] else mp / sp + sn / mn
        assert r[i].item() == pytest.approx(want.item(), rel=1e-5)


def test_flat_map_guard_is_finite_and_leaves_normal_maps_unchanged():
    flat = torch.zeros(1, 5, 5, requires_grad=True)
    const = torch.full((1, 5, 5), 0.7, requires_grad=True)
    r = reciprocative_regulariser(flat, const, torch.tensor([1]), eps=1e-8)
    assert torch.isfinite(r).all()
    r.sum().backward()
    assert torch.isfinite(flat.grad).all() and torch.isfinite(const.grad).all()
    # On normal maps the guarded value equals the unguarded formula bit for bit.
    a_p, a_n = torch.rand(3, 6, 6) + 0.1, torch.rand(3, 6, 6) + 0.1
    labels = torch.tensor([1, 0, 1])
    guarded = reciprocative_regulariser(a_p, a_n, labels, eps=1e-8)
    mu_p, sd_p = a_p.flatten(1).mean(1), a_p.flatten(1).var(1, unbiased=False).sqrt()
    mu_n, sd_n = a_n.flatten(1).mean(1), a_n.flatten(1).var(1, unbiased=False).sqrt()
    plain = torch.where(labels.bool(), sd_p / mu_p + mu_n / sd_n, mu_p / sd_p + sd_n / mu_n)
    assert torch.equal(guarded, plain)


def test_lambda_zero_is_exactly_the_baseline_loss():
    logits = torch.randn(6, 2)
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    maps = torch.rand(6, 4, 4)
    assert torch.equal(reciprocative_loss(logits, labels, 0.0, maps, maps), F.cross_entropy(logits, labels))
    assert torch.equal(reciprocative_loss(logits, labels, 0.0), F.cross_entropy(logits, labels))
    assert not torch.equal(reciprocative_loss(logits, labels, 5.0, maps, maps * 2), F.cross_entropy(logits, labels))


def _setup(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    trunk = TinyTrunk(seed).to(dtype).freeze()
    head = Classifier(trunk.feature_dim, hidden=16, dropout=0.0).to(dtype)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 0.3)
    crops = torch.rand(4, 3, 107, 107, dtype=dtype) * 255
    labels = torch.tensor([1, 1, 0, 0])
    return trunk, head, crops, labels


def _central_difference(value, w, i, j, h):
    """(value() at w[i, j] + h - value() at w[i, j] - h) / 2h; w[i, j] is restored."""
    with torch.no_grad():
        w[i, j] += h
    up = value().item()
    with torch.no_grad():
        w[i, j] -= 2 * h
    down = value().item()
    with torch.no_grad():
        w[i, j] += h
    return (up - down) / (2 * h)


def _reg_value(trunk, head, crops, labels):
    _, a_p, a_n = attention_maps(trunk, head, crops)
    return reciprocative_regulariser(a_p, a_n, labels).mean()


def test_regulariser_gradient_is_nonzero_and_matches_finite_differences():
    trunk, head, crops, labels = _setup()
    reg = _reg_value(trunk, head, crops, labels)
    (grad,) = torch.autograd.grad(reg, head.fc4.weight)
    assert grad.abs().max() > 1e-6, "the regulariser must train the fc weights (double backprop)"
    # Central finite differences on a few fc4 weights and all fc6 weights.
    idx = [(0, 0), (3, 17), (7, 40), (15, 5)]
    h = 1e-5
    for i, j in idx:
        fd = _central_difference(lambda: _reg_value(trunk, head, crops, labels), head.fc4.weight, i, j, h)
        assert grad[i, j].item() == pytest.approx(fd, rel=1e-4, abs=1e-7)


def test_fast_input_gradient_equals_plain_double_backprop():
    trunk, head, crops, labels = _setup()
    # Reference: input gradients straight through autograd with create_graph.
    x = crops.clone().requires_grad_(True)
    logits = head(trunk(x))
    gp = torch.autograd.grad(logits[:, 1].sum(), x, create_graph=True)[0].clamp(min=0).sum(1)
    gn = torch.autograd.grad(logits[:, 0].sum(), x, create_graph=True)[0].clamp(min=0).sum(1)
    ref = reciprocative_loss(logits, labels, 5.0, gp, gn)
    ref_grads = torch.autograd.grad(ref, list(head.parameters()))
    ours = reciprocative_loss(*(lambda o: (o[0], labels, 5.0, o[1], o[2]))(attention_maps(trunk, head, crops)))
    our_grads = torch.autograd.grad(ours, list(head.parameters()))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)
    for a, b in zip(our_grads, ref_grads):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)


def test_attention_maps_are_positive_input_gradients():
    trunk, head, crops, _ = _setup()
    _, a_p, a_n = attention_maps(trunk, head, crops)
    assert a_p.shape == (4, 107, 107) and a_n.shape == (4, 107, 107)
    assert (a_p >= 0).all() and (a_n >= 0).all()
    x = crops.clone().requires_grad_(True)
    g = torch.autograd.grad(head(trunk(x))[:, 1].sum(), x)[0]
    assert torch.allclose(a_p, g.clamp(min=0).sum(1))


def test_trunk_input_gradient_backward_is_a_jvp():
    trunk, _, crops, _ = _setup()
    d = trunk(crops).shape[1]
    g = torch.randn(1, 4, d, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda gg: TrunkInputGradient.apply(gg, crops, trunk), (g,),
                                    eps=1e-6, atol=1e-6, fast_mode=True)


def _random_mobilenet(seed: int):
    """A small frozen MobileNet (three blocks) with random float64 weights, ReLU6 gates mixed."""
    from rl_tracker_ros.core.backbones import MobileNetV1

    torch.manual_seed(seed)
    trunk = MobileNetV1(depth=3).double()
    with torch.no_grad():
        for m in trunk.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, 0.3)
                m.bias.normal_(0, 0.5)
    return trunk.freeze()


def test_mobilenet_gated_jvp_equals_forward_mode_ad_and_double_backprop():
    from torch.func import jvp

    trunk = _random_mobilenet(seed=1)
    crops = torch.rand(3, 3, 107, 107, dtype=torch.float64) * 255
    v = torch.randn_like(crops)
    feats, state = trunk.linearize(crops)
    assert torch.allclose(feats, trunk(crops))
    assert torch.allclose(trunk.jvp(v, state), jvp(trunk, (crops,), (v,))[1], atol=1e-10)
    # The whole reciprocative gradient through the gated path equals plain double backprop.
    head = Classifier(trunk.feature_dim, hidden=8, dropout=0.0).double()
    labels = torch.tensor([1, 0, 1])
    x = crops.clone().requires_grad_(True)
    logits = head(trunk(x))
    gp = torch.autograd.grad(logits[:, 1].sum(), x, create_graph=True)[0].clamp(min=0).sum(1)
    gn = torch.autograd.grad(logits[:, 0].sum(), x, create_graph=True)[0].clamp(min=0).sum(1)
    ref = torch.autograd.grad(reciprocative_loss(logits, labels, 5.0, gp, gn), list(head.parameters()))
    lg, ap, an = attention_maps(trunk, head, crops)
    ours = torch.autograd.grad(reciprocative_loss(lg, labels, 5.0, ap, an), list(head.parameters()))
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-12)
        assert b.abs().max() > 0


# --------------------------------------------------------------- the official form (issue #14)
from rl_tracker_ros.core.attention import batch_ratio_regulariser, cross_entropy, first_layer_attention  # noqa: E402


def test_batch_ratio_regulariser_on_hand_made_maps():
    # Two positives, one negative; population statistics of each 2x2 map:
    a_p = torch.tensor([[[1.0, 3.0], [1.0, 3.0]],     # mu 2, sd 1
                        [[2.0, 2.0], [2.0, 6.0]],     # mu 3, sd sqrt(3)
                        [[0.0, 2.0], [0.0, 2.0]]])    # mu 1, sd 1
    a_n = torch.tensor([[[0.0, 4.0], [0.0, 4.0]],     # mu 2, sd 2
                        [[1.0, 1.0], [1.0, 1.0]],     # mu 1, sd 0 (floored)
                        [[0.0, 6.0], [0.0, 6.0]]])    # mu 3, sd 3
    labels = torch.tensor([1, 1, 0])
    r = batch_ratio_regulariser(a_p, a_n, labels, eps=1e-8)
    s3 = 3 ** 0.5
    # The maps are divided by their batch mean (2) first: the ratios do not change.
    want = (1 + s3) / (2 + 3) + (2 + 1) / (2 + 1e-8 * 2) + 3 / 3 + 1 / 1
    assert r.item() == pytest.approx(want, rel=1e-6)
    # It is a ratio of sums, not the mean of the per-sample ratios.
    per_sample = reciprocative_regulariser(a_p, a_n, labels).mean().item()
    assert abs(r.item() - per_sample) > 0.1


def test_batch_ratio_regulariser_ignores_the_scale_of_the_maps_and_tiny_maps_are_not_floored():
    g = torch.Generator().manual_seed(5)
    a_p, a_n = torch.rand(6, 7, 7, generator=g), torch.rand(6, 7, 7, generator=g)
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    r = batch_ratio_regulariser(a_p, a_n, labels)
    for c in (1e-12, 1e-6, 1e6):  # squared gradients are often ~1e-10
        assert batch_ratio_regulariser(a_p * c, a_n * c, labels).item() == pytest.approx(r.item(), rel=1e-5)


def test_batch_ratio_regulariser_is_finite_on_flat_and_zero_maps():
    zero = torch.zeros(4, 5, 5, requires_grad=True)
    const = torch.full((4, 5, 5), 0.3, requires_grad=True)
    labels = torch.tensor([1, 0, 1, 0])
    for a, b in ((zero, const), (const, zero), (zero, zero)):
        r = batch_ratio_regulariser(a, b, labels)
        assert torch.isfinite(r)
        (ga, gb) = torch.autograd.grad(r, (a, b), allow_unused=True)
        assert torch.isfinite(ga).all() and torch.isfinite(gb).all()


def test_lambda_zero_is_exactly_the_baseline_in_both_forms_and_reductions():
    logits = torch.randn(64, 2)
    labels = torch.cat([torch.ones(32), torch.zeros(32)]).long()
    maps = torch.rand(64, 4, 4)
    for form in ("official", "per_sample"):
        for red in ("sum", "mean"):
            ref = F.cross_entropy(logits, labels, reduction=red)
            assert torch.equal(reciprocative_loss(logits, labels, 0.0, maps, maps, form=form, reduction=red), ref)
            assert not torch.equal(reciprocative_loss(logits, labels, 5.0, maps, maps * 2, form=form, reduction=red), ref)
    # py-MDNet's BinaryLoss: the sum over the positives and the negatives, 64 x the mean here.
    assert cross_entropy(logits, labels, "sum").item() == pytest.approx(64 * cross_entropy(logits, labels).item(), rel=1e-6)


def _first_layer_reference(trunk, head, crops):
    """Squared gradients at the first conv output, by plain autograd through the whole trunk."""
    z = trunk.first_layer(crops).detach().requires_grad_(True)
    logits = head(trunk.after_first(z))
    gp = torch.autograd.grad(logits[:, 1].sum(), z, create_graph=True)[0]
    gn = torch.autograd.grad(logits[:, 0].sum(), z, create_graph=True)[0]
    return gp.square().sum(1), gn.square().sum(1)


def test_first_layer_split_reproduces_the_trunk():
    trunk, _, crops, _ = _setup()
    assert torch.allclose(trunk.after_first(trunk.first_layer(crops)), trunk(crops))


def test_first_layer_attention_is_squared_gradient_at_the_first_conv_output():
    trunk, head, crops, _ = _setup()
    a_p, a_n = first_layer_attention(trunk, head, crops)
    rp, rn = _first_layer_reference(trunk, head, crops)
    assert a_p.shape == rp.shape == (4, trunk.first_layer(crops).shape[2], trunk.first_layer(crops).shape[3])
    assert torch.allclose(a_p, rp, rtol=1e-10) and torch.allclose(a_n, rn, rtol=1e-10)
    assert (a_p >= 0).all() and a_p.sum() > 0


def test_first_layer_attention_runs_the_head_without_dropout_and_restores_its_mode():
    trunk, _, crops, _ = _setup()
    head = Classifier(trunk.feature_dim, hidden=16, dropout=0.5).double().train()
    maps = [first_layer_attention(trunk, head, crops)[0] for _ in range(2)]
    assert head.training
    assert torch.equal(maps[0], maps[1])  # dropout would make two passes differ
    head.eval()
    assert torch.allclose(maps[0], _first_layer_reference(trunk, head, crops)[0])


def _official_reg(trunk, head, crops, labels):
    a_p, a_n = first_layer_attention(trunk, head, crops)
    return batch_ratio_regulariser(a_p, a_n, labels)


def test_official_regulariser_gradient_is_nonzero_and_matches_finite_differences():
    """Fails if the maps lose their graph (``create_graph``): R would be a constant in the
    fc weights, as the official code's is on PyTorch 0.4 and newer."""
    trunk, head, crops, labels = _setup()
    reg = _official_reg(trunk, head, crops, labels)
    grads = torch.autograd.grad(reg, [head.fc4.weight, head.fc6.weight])
    assert all(g.abs().max() > 1e-6 for g in grads)
    h = 1e-6
    for w, g, idx in ((head.fc4.weight, grads[0], [(0, 0), (3, 17), (15, 5)]),
                      (head.fc6.weight, grads[1], [(0, 2), (1, 9)])):
        for i, j in idx:
            fd = _central_difference(lambda: _official_reg(trunk, head, crops, labels), w, i, j, h)
            assert g[i, j].item() == pytest.approx(fd, rel=1e-4, abs=1e-8)


def test_mobilenet_first_layer_gated_path_equals_plain_double_backprop():
    trunk = _random_mobilenet(seed=2)
    crops = torch.rand(4, 3, 107, 107, dtype=torch.float64) * 255
    assert trunk.first_layer(crops).shape == (4, 32, 54, 54)
    assert torch.allclose(trunk.after_first(trunk.first_layer(crops)), trunk(crops))
    head = Classifier(trunk.feature_dim, hidden=8, dropout=0.0).double()
    labels = torch.tensor([1, 1, 0, 0])
    rp, rn = _first_layer_reference(trunk, head, crops)
    # The maps depend on the weights only (biases move no ReLU gate smoothly).
    weights = [head.fc4.weight, head.fc5.weight, head.fc6.weight]
    ref = torch.autograd.grad(batch_ratio_regulariser(rp, rn, labels), weights)
    ours = torch.autograd.grad(_official_reg(trunk, head, crops, labels), weights)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-14)
        assert b.abs().max() > 0
