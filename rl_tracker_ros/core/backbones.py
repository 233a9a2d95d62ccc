"""Frozen convolutional trunks that turn 107x107 RGB crops into feature vectors.

Every trunk takes uint8-range RGB crops (N, 3, S, S) as float, applies its own input
normalisation, and returns flat features (N, D). Normalisation lives inside the module
so that input gradients (the paper's attention maps) are taken with respect to the
crop pixels, whatever the backbone.

The trunks are built empty; weights come from :mod:`rl_tracker_ros.core.weights`.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: The py-MDNet / DAT crop size; the feature geometry below is designed for it.
CROP_SIZE = 107


class Backbone(nn.Module):
    """Base class: a frozen trunk with a known feature size for ``CROP_SIZE`` inputs."""

    name: str = "backbone"
    #: Constant factor on the output features. The paper's learning rates were set for
    #: VGG-M conv3 features; a trunk whose features are smaller in magnitude scales them
    #: up so the same schedule trains the classifier to the same confidence.
    feature_scale: float = 1.0
    #: ``feature_scale`` for each cross-entropy reduction (``TrackerConfig.loss_reduction``),
    #: where a trunk was calibrated for both: summing over a batch of B samples makes each
    #: fc step B times larger, and a linear head's response to a step grows with the
    #: square of the feature scale, so the mean needs sqrt(B) (8 for 32 + 32) times the
    #: summed schedule's scale for the same training. Empty: ``feature_scale`` for both.
    scale_for_reduction: Dict[str, float] = {}

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """Map 0..255 RGB crops to the trunk's input space."""
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Map preprocessed input to a (N, C, h, w) feature map."""
        raise NotImplementedError

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.features(self.preprocess(crops)).flatten(1) * self.feature_scale

    # --- geometry for pooling box features from one shared map (fast profile) ----------
    #: A CROP_SIZE crop's features are the cells ``map_cells`` x ``map_cells`` of its
    #: ``feature_map`` after a ``map_window`` x ``map_window`` stride-1 max-pool (MobileNet's
    #: final 3x3/2 pool is exactly that, sampled at every other cell). So a box's features
    #: can be read from any map: pool the map once, then sample these cells' positions.
    map_cells: Tuple[int, ...] = (0, 1, 2)
    map_window: int = 1
    #: Input pixel coordinate of map cell j's centre is ``map_stride * j + map_first``.
    map_stride: float = 16.0
    map_first: float = 37.5

    #: A trunk that can also give its map at half the stride (the last strided layer made
    #: stride 1 and the layers after it dilated, RT-MDNet's dense map) sets these: the
    #: dense map's cell j is centred on input pixel ``dense_stride * j + dense_first``.
    dense_stride: Optional[float] = None
    dense_first: Optional[float] = None

    #: A trunk with a mid-level map (finer cells, smaller receptive fields: where a target's
    #: edges still show) sets these: ``feature_maps`` returns it beside the final map, and
    #: its cell j is centred on input pixel ``mid_stride * j + mid_first``. Bounding-box
    #: regression in region mode reads it (``TrackerConfig.bbreg_features``).
    mid_stride: Optional[float] = None
    mid_first: Optional[float] = None

    def feature_map(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        """The convolutional map of preprocessed input of any size, before the final pool
        (``dense``: at ``dense_stride``, for trunks that have it)."""
        if dense:
            raise ValueError(f"{type(self).__name__} has no dense map")
        return self.features(x)

    def feature_maps(self, x: torch.Tensor, dense: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """``feature_map(x, dense)`` and, from the same pass, the mid-level map."""
        raise ValueError(f"{type(self).__name__} has no mid-level map")

    # --- the split the official attention maps use: crops -> first conv output -> features
    def first_layer(self, crops: torch.Tensor) -> torch.Tensor:
        """The first convolution's output (before its activation) for 0..255 crops."""
        raise NotImplementedError

    def after_first(self, z: torch.Tensor) -> torch.Tensor:
        """Flat features from ``first_layer``'s output: ``after_first(first_layer(c)) == c``'s
        features."""
        raise NotImplementedError

    @property
    def feature_dim(self) -> int:
        p = next(self.parameters())
        with torch.no_grad():
            probe = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE, device=p.device, dtype=p.dtype)
            return int(self.forward(probe).shape[1])

    def freeze(self) -> "Backbone":
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()


# --------------------------------------------------------------------------- VGG-M
class VGGM(Backbone):
    """VGG-M conv1-conv3 as used by MDNet/DAT: 107x107 -> 512x3x3 (4608 features).

    LRN follows MatConvNet's definition y = x / (kappa + alpha * sum_N x^2)^beta, which
    in torch's ``LocalResponseNorm`` (that divides alpha by size) is alpha * N.
    """

    name = "vggm"
    # The official code trains on VGG-M conv3 features as they are, with the summed loss.
    scale_for_reduction = {"sum": 1.0, "mean": 8.0}

    def __init__(self, lrn: Tuple[float, float, float, float] = (5, 2.0, 1e-4, 0.75)):
        super().__init__()
        size, kappa, alpha, beta = lrn
        self.lrn_params = tuple(float(v) for v in lrn)
        self.conv1 = nn.Conv2d(3, 96, kernel_size=7, stride=2)
        self.conv2 = nn.Conv2d(96, 256, kernel_size=5, stride=2)
        self.conv3 = nn.Conv2d(256, 512, kernel_size=3, stride=1)
        self.lrn = nn.LocalResponseNorm(int(size), alpha=alpha * size, beta=beta, k=kappa)

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        # py-MDNet feeds 0..255 RGB minus 128.
        return crops - 128.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self._after_conv1(self.conv1(x))

    def feature_maps(self, x: torch.Tensor, dense: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        if dense:
            raise ValueError("VGGM has no dense map")
        mid = self._conv2(self.conv1(x))
        return self._conv3(mid), mid

    def _conv2(self, z: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.lrn(F.relu(z)), 3, 2)
        return self.lrn(F.relu(self.conv2(x)))

    def _conv3(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv3(F.max_pool2d(x, 3, 2)))

    def _after_conv1(self, z: torch.Tensor) -> torch.Tensor:
        return self._conv3(self._conv2(z))

    def first_layer(self, crops: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.preprocess(crops))

    def after_first(self, z: torch.Tensor) -> torch.Tensor:
        return self._after_conv1(z).flatten(1) * self.feature_scale

    # conv1 7/2, pool 3/2, conv2 5/2, pool 3/2, conv3 3/1, no padding: cell j of conv3
    # is centred on input pixel coordinate 16 j + 37.5 (the default geometry above), and
    # cell j of conv2's output (the mid-level map, stride 8) on 8 j + 13.5.
    mid_stride = 8.0
    mid_first = 13.5


# ---------------------------------------------------------------------- MobileNetV1
def _tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow 'same' padding (the extra pixel goes bottom/right), so that the
    imported Keras weights see exactly the inputs they were trained with."""
    h, w = x.shape[-2:]

    def total(n: int) -> int:
        return max(kernel - (stride if n % stride == 0 else n % stride), 0)

    ph, pw = total(h), total(w)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


#: (name, stride, output channels) for the depthwise-separable blocks of MobileNetV1 1.0.
MOBILENET_BLOCKS: List[Tuple[int, int]] = [
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
]


class MobileNetV1(Backbone):
    """MobileNetV1 1.0 up to ``conv_pw_{depth}`` with BatchNorm folded into the convs.

    With the default depth 11 a 107x107 crop gives 512x7x7 (stride 16); a 3x3/2 max-pool
    brings it to 512x3x3 = 4608 features, the size of VGG-M's conv3 output, so the
    classifier head and its learning rates keep the paper's proportions.
    """

    name = "mobilenet"
    # Measured on Coke frame 1 (50 iterations, lr 2e-4, mean cross-entropy): mean positive
    # logit 0.35 at scale 1, 4.4 at scale 10, the confident range MDNet-style schedules
    # reach on VGG-M. The summed loss takes 10 / sqrt(64) (see the base class).
    feature_scale = 10.0
    scale_for_reduction = {"mean": 10.0, "sum": 1.25}

    def __init__(self, depth: int = 11):
        super().__init__()
        if not 1 <= depth <= 13:
            raise ValueError(f"MobileNetV1 depth must be 1..13, got {depth}")
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, bias=True)
        self.dw = nn.ModuleList()
        self.pw = nn.ModuleList()
        cin = 32
        for stride, cout in MOBILENET_BLOCKS[:depth]:
            # A stride-1 3x3 'same' pad is symmetric: the conv pads itself (no copy).
            self.dw.append(nn.Conv2d(cin, cin, 3, stride=stride, padding=int(stride == 1), groups=cin,
                                     bias=True))
            self.pw.append(nn.Conv2d(cin, cout, 1, bias=True))
            cin = cout

    #: Cut after conv_pw_N, the factor on ``feature_scale`` that keeps the features' norm at
    #: conv_pw_11's (Girl's first target crop: conv_pw_8's features have 1.30x the norm,
    #: conv_pw_9's 1.34x; over the eight development sequences' first crops the ratio
    #: spreads from 0.8x to 1.3x). The depths issue #15 measured, at these factors.
    scale_at_depth = {7: 0.73, 8: 0.77, 9: 0.75, 10: 0.8}

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        return crops / 127.5 - 1.0

    def truncated(self, depth: int) -> "MobileNetV1":
        """This trunk up to ``conv_pw_{depth}``, sharing its weights (no copy).

        Every depth from 6 to 11 ends at stride 16, so the map's geometry and a crop's
        4608 features stay those of depth 11; what changes is how far a cell sees (a
        receptive field of 123 px at conv_pw_8, 155 at conv_pw_9, 219 at conv_pw_11) and how
        specific to ImageNet's classes its channels are."""
        if not 6 <= depth <= min(self.depth, 11):
            raise ValueError(f"mobilenet_depth {depth}: this trunk holds conv_pw_1..{self.depth}, and the "
                             "stride-16 map is conv_pw_6..11")
        with torch.device("meta"):  # its own layers are replaced by these: nothing to draw
            net = MobileNetV1(depth=depth)
        net.conv1, net.dw, net.pw = self.conv1, nn.ModuleList(self.dw[:depth]), nn.ModuleList(self.pw[:depth])
        factor = self.scale_at_depth.get(depth, 1.0) / self.scale_at_depth.get(self.depth, 1.0)
        net.feature_scale = self.feature_scale * factor
        net.scale_for_reduction = {k: v * factor for k, v in self.scale_for_reduction.items()}
        return net.freeze()

    # Before the final pool a 107 crop gives 7x7 cells. Each stride-2 TF-'same' layer maps
    # centres as c_in = 2 c_out + 0.5, so four of them give 16 j + 7.5 + 8 = 16 j + 15.5.
    map_cells = (1, 3, 5)
    map_window = 3
    map_first = 15.5
    # Dense: the last stride-2 depthwise conv at stride 1 (its input has an even size for
    # sizes in step with the crop, so its 'same' pad puts output j on input 2j + 1) and the
    # depthwise convs after it dilated by 2: cell 2j + 1 of the dense map is cell j of the
    # strided one, so cell i is centred on 8 i + 7.5.
    dense_stride = 8.0
    dense_first = 7.5

    # Mid-level map: the output of the last layer before the stride-16 stage
    # (conv_pw_5 at depth >= 6: 256 channels, stride 8, a 43 px receptive field against
    # the final map's 219). Its cell j's gradient centroid on a 107 crop is at 8 j + 0.1 px.
    mid_stride = 8.0
    mid_first = 0.0

    def feature_map(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        return self._run(x, dense, keep_mid=False)[0]

    def feature_maps(self, x: torch.Tensor, dense: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        final, mid = self._run(x, dense, keep_mid=True)
        if mid is None:
            raise ValueError(f"MobileNetV1 of depth {self.depth} has no stride-16 stage, so no mid-level map")
        return final, mid

    def _run(self, x: torch.Tensor, dense: bool, keep_mid: bool):
        layers = list(self._layers())
        strided = [i for i, (_, pad_stride) in enumerate(layers) if pad_stride == 2]
        last = strided[-1] if dense else len(layers)
        mid_at = strided[3] if len(strided) >= 4 else None  # the stride-8 map ends there
        mid = None
        for i, (conv, pad_stride) in enumerate(layers):
            if keep_mid and i == mid_at:
                mid = x  # the in-place ReLU6 below acts on each conv's own output, not on x
            if i < last or conv.groups == 1:
                z = conv(_tf_same_pad(x, 3, pad_stride) if pad_stride else x)
            else:  # the last strided depthwise conv at stride 1, the ones after it dilated
                d = 1 if i == last else 2
                z = F.conv2d(x, conv.weight, conv.bias, 1, d, d, conv.groups)
            x = F.relu6(z, inplace=True)
        return x, mid

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.feature_map(x), 3, 2)

    # The trunk is piecewise linear (convs, ReLU6, max-pool), so at a fixed input its
    # Jacobian is the same network with biases dropped, each ReLU6 replaced by its
    # 0/1 gate and the max-pool by its argmax gather. Recording those gates once lets
    # the reciprocative loss apply J to a tangent at the cost of one plain forward,
    # several times cheaper than generic forward-mode AD on CPU.
    def _layers(self):
        """(conv, stride of the TF 'same' pad to apply first, or None when the conv pads
        itself or needs none)."""
        yield self.conv1, 2
        for dw, pw in zip(self.dw, self.pw):
            yield dw, dw.stride[0] if dw.stride[0] > 1 else None
            yield pw, None

    def first_layer(self, crops: torch.Tensor) -> torch.Tensor:
        return self.conv1(_tf_same_pad(self.preprocess(crops), 3, 2))

    def after_first(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu6(z)
        for conv, pad_stride in list(self._layers())[1:]:
            x = F.relu6(conv(_tf_same_pad(x, 3, pad_stride) if pad_stride else x))
        return F.max_pool2d(x, 3, 2).flatten(1) * self.feature_scale

    def linearize(self, x: torch.Tensor, from_first: bool = False):
        """Features and the state ``jvp`` needs (ReLU6 gates, pool argmax), at crops ``x``
        or, ``from_first``, at the first convolution's output ``x``."""
        layers = list(self._layers())
        if from_first:
            z, layers = x, layers[1:]
            gates = [(z > 0) & (z < 6)]
            x = F.relu6(z)
        else:
            x, gates = self.preprocess(x), []
        for conv, pad_stride in layers:
            z = conv(_tf_same_pad(x, 3, pad_stride) if pad_stride else x)
            gates.append((z > 0) & (z < 6))
            x = F.relu6(z)
        out, idx = F.max_pool2d(x, 3, 2, return_indices=True)
        return out.flatten(1) * self.feature_scale, (gates, idx, from_first)

    def jvp(self, tangent: torch.Tensor, state) -> torch.Tensor:
        """J @ tangent at the input ``linearize`` saw (tangent in crop pixel units, or in
        first-layer output units when ``linearize`` started there)."""
        gates, idx, from_first = state
        layers = list(self._layers())
        if from_first:
            x, gates, layers = tangent * gates[0], gates[1:], layers[1:]
        else:
            x = tangent / 127.5  # preprocess is affine with slope 1/127.5
        for (conv, pad_stride), gate in zip(layers, gates):
            xin = _tf_same_pad(x, 3, pad_stride) if pad_stride else x
            x = F.conv2d(xin, conv.weight, None, conv.stride, conv.padding, 1, conv.groups) * gate
        pooled = x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        return pooled.flatten(1) * self.feature_scale


def build_backbone(arch: str, state: Dict[str, torch.Tensor], meta: Dict) -> Backbone:
    """Instantiate a trunk of ``arch`` and load ``state`` (the project's cache format)."""
    if arch == "vggm":
        net: Backbone = VGGM(lrn=tuple(meta.get("lrn", (5, 2.0, 1e-4, 0.75))))
    elif arch == "mobilenet":
        net = MobileNetV1(depth=int(meta.get("depth", 11)))
    else:
        raise ValueError(f"unknown backbone architecture {arch!r} (known: vggm, mobilenet)")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit the {arch} trunk: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return net.freeze()
