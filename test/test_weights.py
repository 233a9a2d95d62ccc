"""Weight loaders on small files written in each real upstream format, the cache, lookup
order, download checks, and the real shared weights when present."""
import hashlib
import json
import logging
from collections import OrderedDict

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

from rl_tracker_ros.core import weights as W
from rl_tracker_ros.core.backbones import MobileNetV1, VGGM, _tf_same_pad, build_backbone

from conftest import MOBILENET_TFJS, needs_shared

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------ writers of real formats
def write_vggm_mat(path):
    """MatConvNet simplenn layout: a cell array of layer structs."""
    shapes = {"conv1": (7, 7, 3, 96), "conv2": (5, 5, 96, 256), "conv3": (3, 3, 256, 512)}
    names = ["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3"]
    layers = np.empty((1, len(names)), dtype=object)
    tensors = {}
    for i, name in enumerate(names):
        if name in shapes:
            f = RNG.standard_normal(shapes[name]).astype(np.float32)
            b = RNG.standard_normal((shapes[name][3], 1)).astype(np.float32)
            tensors[name] = (f, b)
            cell = np.empty((1, 2), dtype=object)
            cell[0, 0], cell[0, 1] = f, b
            layers[0, i] = {"name": name, "type": "conv", "weights": cell, "stride": np.array([[2, 2]]),
                            "pad": np.array([[0, 0, 0, 0]])}
        elif name.startswith("norm"):
            layers[0, i] = {"name": name, "type": "lrn", "param": np.array([[5, 2, 1e-4, 0.75]])}
        else:
            layers[0, i] = {"name": name, "type": name[:4]}
    scipy.io.savemat(str(path), {"layers": layers, "classes": {"name": np.array(["a", "b"], dtype=object)}})
    return tensors


def write_mdnet_pth(path):
    shared = OrderedDict()
    for conv, (o, i, k) in {"conv1": (96, 3, 7), "conv2": (256, 96, 5), "conv3": (512, 256, 3)}.items():
        shared[f"{conv}.0.weight"] = torch.randn(o, i, k, k)
        shared[f"{conv}.0.bias"] = torch.randn(o)
    shared["fc4.0.weight"], shared["fc4.0.bias"] = torch.randn(512, 4608), torch.randn(512)
    torch.save({"shared_layers": shared}, path)
    return shared


def write_tfjs(folder, depth=2, drop=()):
    """A TF.js layers model.json + float32 shards for MobileNetV1 conv1..conv_pw_{depth}."""
    folder.mkdir(parents=True, exist_ok=True)
    chans = [32, 64, 128, 128]
    specs = [("conv1/kernel", (3, 3, 3, 32))]
    specs += [(f"conv1_bn/{k}", (32,)) for k in ("gamma", "beta", "moving_mean", "moving_variance")]
    for i in range(1, depth + 1):
        cin, cout = chans[i - 1], chans[i]
        specs.append((f"conv_dw_{i}/depthwise_kernel", (3, 3, cin, 1)))
        specs += [(f"conv_dw_{i}_bn/{k}", (cin,)) for k in ("gamma", "beta", "moving_mean", "moving_variance")]
        specs.append((f"conv_pw_{i}/kernel", (1, 1, cin, cout)))
        specs += [(f"conv_pw_{i}_bn/{k}", (cout,)) for k in ("gamma", "beta", "moving_mean", "moving_variance")]
    specs.append(("conv_preds/kernel", (1, 1, 128, 10)))  # a tensor the trunk does not need
    manifest, tensors = [], {}
    for g, (name, shape) in enumerate(specs, start=1):
        arr = RNG.standard_normal(shape).astype("<f4")
        if "moving_variance" in name:
            arr = np.abs(arr) + 0.5
        tensors[name] = arr
        fname = f"group{g}-shard1of1"
        if name not in drop:
            (folder / fname).write_bytes(arr.tobytes())
        manifest.append({"paths": [fname], "weights": [{"name": name, "shape": list(shape), "dtype": "float32"}]})
    (folder / "model.json").write_text(json.dumps({"modelTopology": {}, "weightsManifest": manifest}))
    return tensors


# ------------------------------------------------------------------ readers
def test_matconvnet_vggm_reader(tmp_path):
    path = tmp_path / "imagenet-vgg-m.mat"
    t = write_vggm_mat(path)
    arch, state, meta = W.read_any(path)
    assert arch == "vggm" and meta["lrn"] == [5.0, 2.0, 1e-4, 0.75]
    assert torch.equal(state["conv1.weight"], torch.from_numpy(t["conv1"][0].transpose(3, 2, 0, 1)))
    assert torch.equal(state["conv3.bias"], torch.from_numpy(t["conv3"][1][:, 0]))
    net = build_backbone(arch, state, meta)
    assert net.feature_dim == 4608


def test_mdnet_pth_reader(tmp_path):
    path = tmp_path / "mdnet_vot-otb.pth"
    shared = write_mdnet_pth(path)
    arch, state, _ = W.read_any(path)
    assert arch == "vggm"
    assert torch.equal(state["conv2.weight"], shared["conv2.0.weight"])
    assert set(state) == {f"conv{i}.{k}" for i in (1, 2, 3) for k in ("weight", "bias")}


def test_tfjs_reader_folds_batchnorm_exactly(tmp_path):
    t = write_tfjs(tmp_path / "tfjs", depth=2)
    arch, state, meta = W.read_tfjs_mobilenet(tmp_path / "tfjs", depth=2)
    net = build_backbone(arch, state, meta).double()
    x = torch.rand(2, 3, 37, 37, dtype=torch.float64) * 2 - 1

    def bn(y, prefix):
        g, b, m, v = (torch.from_numpy(t[f"{prefix}_bn/{k}"]).double().view(1, -1, 1, 1)
                      for k in ("gamma", "beta", "moving_mean", "moving_variance"))
        return (y - m) / torch.sqrt(v + 1e-3) * g + b

    k1 = torch.from_numpy(t["conv1/kernel"]).double().permute(3, 2, 0, 1)
    ref = F.relu6(bn(F.conv2d(_tf_same_pad(x, 3, 2), k1, stride=2), "conv1"))
    ours = F.relu6(net.conv1(_tf_same_pad(x, 3, 2)))
    assert torch.allclose(ours, ref, atol=1e-5)  # folded weights are stored as float32
    kd = torch.from_numpy(t["conv_dw_1/depthwise_kernel"]).double().permute(2, 3, 0, 1)
    ref_dw = F.relu6(bn(F.conv2d(_tf_same_pad(ref, 3, 1), kd, groups=32), "conv_dw_1"))
    # A stride-1 depthwise conv pads itself; its 'same' pad is symmetric, as TF's is.
    assert torch.allclose(F.relu6(net.dw[0](ours)), ref_dw, atol=1e-4)


def test_tfjs_missing_needed_shard_is_a_clear_error_but_unneeded_is_fine(tmp_path):
    write_tfjs(tmp_path / "a", depth=2, drop=("conv_preds/kernel",))
    W.read_tfjs_mobilenet(tmp_path / "a", depth=2)  # the classifier shard is not needed
    write_tfjs(tmp_path / "b", depth=2, drop=("conv_pw_2/kernel",))
    with pytest.raises(W.WeightsError, match="missing"):
        W.read_tfjs_mobilenet(tmp_path / "b", depth=2)


def test_tfjs_truncated_shard(tmp_path):
    write_tfjs(tmp_path / "t", depth=1)
    shard = tmp_path / "t" / "group1-shard1of1"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(W.WeightsError, match="truncated"):
        W.read_tfjs_mobilenet(tmp_path / "t", depth=1)


# ------------------------------------------------------------------ cache and lookup
def test_import_then_load_through_the_cache(tmp_path):
    write_mdnet_pth(tmp_path / "m.pth")
    cached = W.import_weights(tmp_path / "m.pth")
    assert cached == W.cache_path("mdnet") and cached.exists()
    net = W.load_backbone("mdnet")
    assert isinstance(net, VGGM) and not any(p.requires_grad for p in net.parameters())


def test_lookup_order_explicit_then_env_then_cache(tmp_path, monkeypatch):
    write_mdnet_pth(tmp_path / "m.pth")
    W.import_weights(tmp_path / "m.pth", name="mdnet")
    env_file = tmp_path / "env.pth"
    write_mdnet_pth(env_file)
    explicit = tmp_path / "explicit.pth"
    write_mdnet_pth(explicit)
    assert W.resolve_weights("mdnet") == W.cache_path("mdnet")
    monkeypatch.setenv("RL_TRACKER_WEIGHTS", str(env_file))
    assert W.resolve_weights("mdnet") == env_file
    assert W.resolve_weights("mdnet", str(explicit)) == explicit


def test_missing_weights_say_how_to_get_them():
    with pytest.raises(W.WeightsError, match="rl-tracker weights download mobilenet"):
        W.load_backbone("mobilenet")
    with pytest.raises(W.WeightsError, match="does not exist"):
        W.load_backbone("mobilenet", "/nonexistent/weights.pt")


def test_corrupt_cache_files_are_refused(tmp_path):
    p = W.cache_path("mdnet")
    p.parent.mkdir(parents=True)
    p.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(W.WeightsError, match="not a readable torch file|corrupt"):
        W.load_backbone("mdnet")
    write_mdnet_pth(tmp_path / "m.pth")
    arch, state, meta = W.read_any(tmp_path / "m.pth")
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    W.save_cache(p, arch, state, meta, "test")
    with pytest.raises(W.WeightsError, match="non-finite"):
        W.load_backbone("mdnet")


def test_wrong_architecture_is_refused(tmp_path):
    write_mdnet_pth(tmp_path / "m.pth")
    with pytest.raises(W.WeightsError, match="needs mobilenet"):
        W.load_backbone("mobilenet", str(tmp_path / "m.pth"))


def test_random_backbone_only_when_asked_and_loudly(caplog):
    with pytest.raises(W.WeightsError):
        W.load_backbone("mobilenet")
    with caplog.at_level(logging.WARNING):
        net = W.load_backbone("mobilenet", allow_random=True)
    assert isinstance(net, MobileNetV1)
    assert "RANDOM BACKBONE" in caplog.text


# ------------------------------------------------------------------ download (file:// only; no network)
def _serve_tfjs(tmp_path, monkeypatch, pin_real_hashes):
    src = tmp_path / "mirror"
    write_tfjs(src, depth=2)
    entry = dict(W.REGISTRY["mobilenet"])
    if not pin_real_hashes:
        entry["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    monkeypatch.setitem(W.REGISTRY, "mobilenet", entry)
    monkeypatch.setattr(W, "_tfjs_groups_for_trunk", lambda manifest, depth=11: [
        p for g in manifest for p in g["paths"] if not g["weights"][0]["name"].startswith("conv_preds")])
    monkeypatch.setattr(W, "read_tfjs_mobilenet", lambda path, depth=2, _r=W.read_tfjs_mobilenet: _r(path, depth=2))
    return src


def test_download_checks_sha256_and_converts(tmp_path, monkeypatch):
    src = _serve_tfjs(tmp_path, monkeypatch, pin_real_hashes=False)
    path = W.download_weights("mobilenet", base_url=src.as_uri(), progress=False)
    assert path == W.cache_path("mobilenet")
    assert W.read_any(path)[0] == "mobilenet"


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    src = _serve_tfjs(tmp_path, monkeypatch, pin_real_hashes=True)  # pinned hashes are Google's
    with pytest.raises(W.WeightsError, match="does not match"):
        W.download_weights("mobilenet", base_url=src.as_uri(), progress=False)
    assert not W.cache_path("mobilenet").exists()


# ------------------------------------------------------------------ the real shared weights
@needs_shared(MOBILENET_TFJS)
def test_real_mobilenet_tfjs_weights():
    pinned = W.REGISTRY["mobilenet"]["files"]["model.json"]
    assert W.sha256_of(MOBILENET_TFJS / "model.json") == pinned
    manifest = json.loads((MOBILENET_TFJS / "model.json").read_text())["weightsManifest"]
    for rel in W._tfjs_groups_for_trunk(manifest):
        assert W.sha256_of(MOBILENET_TFJS / rel) == W.REGISTRY["mobilenet"]["files"][rel]
    net = W.load_backbone("mobilenet", str(MOBILENET_TFJS))
    crops = torch.rand(2, 3, 107, 107) * 255
    with torch.no_grad():
        f = net(crops)
    assert f.shape == (2, 4608) and torch.isfinite(f).all() and f.abs().sum() > 0


def test_vggm_lrn_follows_matconvnet_definition():
    """y = x / (kappa + alpha * sum over N neighbouring channels of x^2) ^ beta."""
    net = VGGM(lrn=(5, 2.0, 1e-4, 0.75)).double()
    x = torch.rand(1, 8, 3, 3, dtype=torch.float64) * 50
    got = net.lrn(x)
    sq = (x ** 2)[0]
    want = torch.empty_like(x[0])
    for c in range(8):
        window = sq[max(c - 2, 0):min(c + 3, 8)].sum(0)
        want[c] = x[0, c] / (2.0 + 1e-4 * window) ** 0.75
    assert torch.allclose(got[0], want, rtol=1e-10)
