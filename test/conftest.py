import functools
import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RL_TRACKER_SHARED", ROOT.parent / "shared"))
SEQUENCES = SHARED / "data" / "sequences"
MOBILENET_TFJS = SHARED / "weights" / "mobilenet_v1_1.0_224_tfjs"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def isolated_weights_cache(tmp_path, monkeypatch):
    """Every test gets its own empty weights cache and no weights env override."""
    monkeypatch.setenv("RL_TRACKER_WEIGHTS_DIR", str(tmp_path / "weights_cache"))
    monkeypatch.delenv("RL_TRACKER_WEIGHTS", raising=False)


def needs_shared(path: Path):
    """Skip a test whose data in ../shared is absent, except under CI (``CI`` set), where
    ../shared is always beside the checkout: there a wrong path fails instead of skipping."""
    if path.exists():
        return lambda test: test
    if os.environ.get("CI"):
        def failing(test):
            @functools.wraps(test)
            def run(*args, **kwargs):
                pytest.fail(f"{path} is absent but CI is set: ../shared must be beside the checkout")
            return run
        return failing
    return pytest.mark.skip(reason=f"{path} absent (../shared is not beside this checkout)")


#: A fast-profile schedule sized for TinyTrunk (with ``TrackerConfig.preset("fast", **SMALL_FAST)``);
#: the tiny trunk's classifier separates clearly only with the summed loss and this scale.
SMALL_FAST = dict(device="cpu", feature_scale=20.0, n_pos_init=100, n_neg_init=400, iters_init=30, n_bbreg=200,
                  batch_neg_cand=128, iters_update=3, n_pos_update=20, n_neg_update=60, loss_reduction="sum")


class TinyTrunk(torch.nn.Module):
    """A small conv trunk with the Backbone interface, for fast tests."""

    name = "tiny"
    feature_scale = 1.0

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(3, 8, 5, stride=4)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2)
        with torch.no_grad():
            for m in (self.conv1, self.conv2):
                m.weight.normal_(0, 0.2, generator=g)
                m.bias.normal_(0, 0.1, generator=g)

    def preprocess(self, crops):
        return crops / 127.5 - 1.0

    # Region-mode geometry: conv1 5/4 and conv2 3/2 without padding put cell j of the
    # map at input pixel coordinate 8 j + 6.5; the final 3x3/2 pool keeps cells 1, 3, .. 9.
    map_cells, map_window, map_stride, map_first = (1, 3, 5, 7, 9), 3, 8.0, 6.5

    # Its mid-level map (bbreg_features: mid) is conv1's output: cell j at 4 j + 2.5.
    mid_stride, mid_first = 4.0, 2.5

    def feature_map(self, x):
        return self.feature_maps(x)[0]

    def feature_maps(self, x):
        mid = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(mid)), mid

    def features(self, x):
        return torch.nn.functional.max_pool2d(self.feature_map(x), 3, 2)

    def forward(self, crops):
        return self.features(self.preprocess(crops)).flatten(1) * self.feature_scale

    def first_layer(self, crops):
        return self.conv1(self.preprocess(crops))

    def after_first(self, z):
        x = torch.relu(self.conv2(torch.relu(z)))
        return torch.nn.functional.max_pool2d(x, 3, 2).flatten(1) * self.feature_scale

    @property
    def feature_dim(self):
        with torch.no_grad():
            p = next(self.parameters())
            return self.forward(torch.zeros(1, 3, 107, 107, device=p.device, dtype=p.dtype)).shape[1]

    def freeze(self):
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()


def textured_target_scene(size, box_wh, seed=0):
    """A noisy background of ``size`` (W, H) and a textured target patch of ``box_wh``."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
    patch = np.zeros((box_wh[1], box_wh[0], 3), np.uint8)
    patch[..., 0] = 230
    patch[::4, :, 1] = 255
    patch[:, ::5, 2] = 200
    return bg, patch


def synthetic_sequence(n=12, size=(160, 120), box=(60, 40, 24, 30), step=(2, 1), seed=0):
    """A textured square moving over a noisy background, with its ground truth."""
    bg, patch = textured_target_scene(size, box[2:], seed)
    frames, gts = [], []
    for i in range(n):
        x, y = box[0] + step[0] * i, box[1] + step[1] * i
        f = bg.copy()
        f[y:y + box[3], x:x + box[2]] = patch
        frames.append(f)
        gts.append([x, y, box[2], box[3]])
    return frames, np.array(gts, dtype=np.float64)
