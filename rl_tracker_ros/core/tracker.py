"""The DAT tracker: ``initialize(frame, box)`` then ``track(frame)`` per frame.

Frames are numpy uint8 arrays in RGB order, HxWx3 (HxW or HxWx1 grayscale is accepted
and replicated to three channels), of any size. Boxes are (x, y, w, h) in pixels,
0-based, top-left corner. Data flows one way per frame: frame -> candidate boxes ->
crops -> trunk features -> classifier scores -> box -> result, with the frame's
training samples appended to the memory on the way out.
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, Iterator, NamedTuple, Optional, Tuple

import cv2
import numpy as np
import torch

from .attention import box_attention
from .backbones import Backbone, MobileNetV1
from .bbreg import BBoxRegressor
from .boxes import centers, moved, validate_box
from .config import TrackerConfig, resolve_precision
from .crops import extract_crops, frame_to_tensor, paste_map
from .features import CropFeatures, RegionFeatures, covering_region, map_shape, tracking_scale
from .head import Classifier, Ensemble, SplitEnsemble
from .motion import flow_shift
from .redetection import search_tiles, tile_candidates
from .refiner import BoxRefiner
from .sampling import SampleGenerator, draw_samples
from .selection import nearer_group, windowed_ranking
from .training import SampleMemory, SampleSet, make_optimizer, train_classifier
from .weights import load_backbone


class TrackState(str, Enum):
    IDLE = "idle"            # not initialised
    TRACKING = "tracking"    # mean top-k score above the success threshold
    UNCERTAIN = "uncertain"  # failed for fewer than ``lost_after`` frames: widened search
    LOST = "lost"            # failed for ``lost_after`` frames or more: still searching
                             # (the whole frame, tile by tile, with ``redetect``)


@dataclass
class TrackResult:
    box: np.ndarray                       # (4,) float64 x, y, w, h
    score: float                          # mean top-k positive logit (re-detection: its best position's)
    state: TrackState
    frame_index: int
    time_s: float                         # tracker time for this frame
    stages: Dict[str, float] = field(default_factory=dict)  # seconds per stage
    attention: Optional[np.ndarray] = None  # (H, W) float32 in [0, 1], when asked for
    updates_skipped: int = 0              # online updates skipped so far: no positives or negatives


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available (use device: auto or cpu)")
    return dev


def check_frame(frame) -> np.ndarray:
    """Validate a frame and return it as HxWx3 uint8 RGB."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3 RGB or HxW grayscale, got shape {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame of shape {frame.shape} is too small")
    return frame


def add_stage_times(into: Dict[str, float], more: Dict[str, float]) -> Dict[str, float]:
    """``more``'s seconds per stage added to ``into`` (returned, changed in place)."""
    for name, seconds in more.items():
        into[name] = into.get(name, 0.0) + seconds
    return into


class _StageTimer:
    """Accumulates wall time per named stage (synchronising CUDA so times are real)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.stages: Dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        yield
        if self.cuda:
            torch.cuda.synchronize()
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - t


class Update(NamedTuple):
    """A scheduled classifier update: ``left`` steps still to run on ``pos`` / ``neg``
    with ``optimizer``, each step training the next member alone if ``rotate``, with the
    batch of ``settings`` (the first frame's own; None: the tracker's)."""

    pos: SampleSet
    neg: SampleSet
    left: int
    optimizer: torch.optim.Optimizer
    rotate: bool = False
    settings: Optional[TrackerConfig] = None


class DATTracker:
    """Deep Attentive Tracking (Pu et al., NeurIPS 2018) on a frozen trunk."""

    def __init__(self, config: Optional[TrackerConfig] = None, backbone: Optional[Backbone] = None, **overrides):
        cfg = config or TrackerConfig()
        self.cfg = cfg.replace(**overrides) if overrides else cfg
        self.device = resolve_device(self.cfg.device)
        trunk = backbone if backbone is not None else load_backbone(
            self.cfg.backbone, self.cfg.weights, self.cfg.allow_random_backbone)
        if self.cfg.mobilenet_depth and isinstance(trunk, MobileNetV1) and trunk.depth != self.cfg.mobilenet_depth:
            trunk = trunk.truncated(self.cfg.mobilenet_depth)  # shares the weights (the harness shares trunks)
        if self.cfg.feature_scale is not None:
            trunk.feature_scale = float(self.cfg.feature_scale)
        elif self.cfg.loss_reduction in getattr(trunk, "scale_for_reduction", {}):
            trunk.feature_scale = float(trunk.scale_for_reduction[self.cfg.loss_reduction])
        if self.cfg.feature_mode == "region" and not hasattr(trunk, "feature_map"):
            raise ValueError(f"feature_mode region needs a trunk with feature_map and its geometry (map_cells ...); {type(trunk).__name__} has none")
        if self.cfg.feature_mode == "region" and self.cfg.region_dense and getattr(trunk, "dense_stride", None) is None:
            raise ValueError(f"region_dense needs a trunk with a dense map; {type(trunk).__name__} has none")
        if self.cfg.bbreg_features == "mid" and getattr(trunk, "mid_stride", None) is None:
            raise ValueError(f"bbreg_features mid needs a trunk with a mid-level map; {type(trunk).__name__} has none")
        self.trunk = trunk.freeze().to(self.device).to(memory_format=torch.channels_last)
        self.feature_dim = self.trunk.feature_dim
        self.trunk_dtype = resolve_precision(self.cfg.trunk_precision, self.device)
        self.feature_shape = (map_shape(self.trunk, self.cfg.crop_size)
                              if self.cfg.attention_layer == "features" else None)
        self.head: Optional[Classifier] = None
        self._blank = self._blank_classifier()
        self._deferred = None  # a tracked frame's learning, until learn() runs it
        self.refiner: Optional[BoxRefiner] = None  # the target's correlation filters, when a weight is > 0
        self._previous: Optional[np.ndarray] = None  # the last confident frame (flow_search)
        self.state = TrackState.IDLE
        self.frame_index = -1

    # ------------------------------------------------------------------ building blocks
    def _blank_classifier(self):
        """The untrained classifier every initialisation starts from, and the states of
        the sample generator and the dropout stream after drawing it (``cfg.seed``'s).

        Drawing it (nn.Linear's default init, which advances the dropout stream, then
        py-MDNet's N(0, 0.01) from the seeded generator) took about 40 ms of a 240 ms
        fast-profile first frame, 2.4 M weights of fc4 drawn twice; it depends on the seed
        alone, so it is drawn once here, when the tracker is built, and each
        ``initialize`` starts from a copy with the same streams: the same run as drawing
        it there (tested)."""
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self._seed_dropout_rng(cfg.seed)  # dropout masks
        with self._dropout_rng():  # the layers' default init draws from it too (then reset)
            if cfg.ensemble_split and cfg.n_heads > 1:
                channels = (self.feature_shape or map_shape(self.trunk, cfg.crop_size))[0]
                head = SplitEnsemble(self.feature_dim, channels, cfg.n_heads, cfg.hidden_dim, cfg.dropout,
                                     resolve_precision(cfg.head_precision, self.device))
            else:
                heads = [Classifier(self.feature_dim, cfg.hidden_dim, cfg.dropout) for _ in range(cfg.n_heads)]
                head = heads[0] if cfg.n_heads == 1 else Ensemble(heads)
        head.reset(gen)
        return head.to(self.device).eval(), gen.get_state(), self._rng_state

    def _source(self, frame: np.ndarray, cover: np.ndarray, target: np.ndarray,
                max_side: Optional[int] = None, keep: Optional[np.ndarray] = None):
        """Where this frame's box features come from: a crop per box (``crops``) or one
        trunk pass over the region covering ``cover`` at ``target``'s scale (``region``),
        at most ``max_side`` trunk pixels a side (default ``region_max_side``), holding
        ``keep``'s context if it must be cut down."""
        cfg = self.cfg
        if cfg.feature_mode == "crops":
            return CropFeatures(self.trunk, frame_to_tensor(frame, self.device), cfg.crop_size,
                                cfg.crop_padding, cfg.chunk_size, cfg.keeps_crops, self.feature_dim,
                                self.trunk_dtype)
        region = covering_region(cover, cfg.crop_size, cfg.crop_padding)
        return RegionFeatures(self.trunk, frame, region, target, cfg.crop_size, cfg.crop_padding,
                              max_side or cfg.region_max_side, cfg.region_zoom, self.trunk_dtype, self.device,
                              cfg.region_dense, keep, mid=cfg.bbreg_features == "mid")

    def _bbreg_features(self, source, boxes: np.ndarray, feats: Optional[torch.Tensor] = None) -> torch.Tensor:
        """What box regression reads for ``boxes``: the mid-level lattice (``bbreg_features:
        mid``), or the classifier's features (MDNet): ``feats`` when already computed."""
        if self.cfg.bbreg_features == "mid":
            return source.mid_features(boxes, self.cfg.bbreg_grid)
        return feats if feats is not None else source.features(source.prepare(boxes))

    def _draw(self, source, generator: SampleGenerator, box, n: int, overlap) -> np.ndarray:
        """``n`` training boxes (IoU in ``overlap``) whose features ``source`` holds. A
        region source covers only the search region: draw more, keep those inside."""
        if isinstance(source, CropFeatures):
            return draw_samples(generator, box, n, self.rng, overlap)
        boxes = draw_samples(generator, box, 3 * n, self.rng, overlap)
        return boxes[source.inside(boxes)][:n]

    def _init_settings(self) -> TrackerConfig:
        """The settings the first frame's steps train with: its own batch where set
        (``batch_pos_init`` ...). Why: the first frame's steps are what delay the first
        result, and at a camera rate every 33 ms of them is a frame the consumer keeps the
        init box for. In the fast profile six steps of half the batch trained as well as
        six full ones (docs/fast_profile.md, the nineteenth round)."""
        cfg = self.cfg
        own = dict(batch_pos=cfg.batch_pos_init, batch_neg=cfg.batch_neg_init,
                   batch_neg_cand=cfg.batch_neg_cand_init)
        return cfg.replace(**{k: v for k, v in own.items() if v > 0})

    def _train(self, pos, neg, iters: int, optimizer, rotate: bool = False,
               settings: Optional[TrackerConfig] = None) -> None:
        """``iters`` steps on the whole classifier, batches as ``settings`` (default the
        tracker's) say; with ``rotate`` (an ensemble's updates that rotate,
        ``ensemble_updates``) each step trains the next member alone."""
        cfg = settings or self.cfg
        with self._dropout_rng():
            if not rotate:
                train_classifier(self.head, self.trunk, optimizer, pos, neg, iters, cfg, self.gen,
                                 self.feature_shape)
                return
            for _ in range(iters):
                member = self.head.members[self._turn % len(self.head.members)]
                self._turn += 1
                train_classifier(member, self.trunk, optimizer, pos, neg, 1, cfg, self.gen,
                                 self.feature_shape)

    def _schedule(self, pos, neg, long_term: bool) -> Update:
        """An update to run: ``iters_update`` steps, or, when an ensemble's updates of
        this kind rotate (``ensemble_updates``), that many for each member in turn."""
        cfg = self.cfg
        rotate = cfg.n_heads > 1 and (cfg.ensemble_updates == "one" or (cfg.ensemble_updates == "long" and long_term))
        return Update(pos, neg, cfg.iters_update * (cfg.n_heads if rotate else 1), self.optimizer, rotate)

    @contextmanager
    def _dropout_rng(self) -> Iterator[None]:
        """Dropout draws from torch's global generator. This tracker's draws use a stream of
        its own, seeded at initialisation, so what else runs in the process (another tracker
        interleaved in an evaluation, say) does not change its run; alone, the stream is the
        one ``torch.manual_seed(seed)`` gives."""
        outer = self._global_rng()
        self._set_global_rng(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = self._global_rng()
            self._set_global_rng(outer)

    def _seed_dropout_rng(self, seed: int) -> None:
        """The stream ``_dropout_rng`` uses: torch's global generators seeded with ``seed``."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            self._rng_state = self._global_rng()

    def _global_rng(self) -> tuple:
        """torch's global generator states for this tracker's device (CPU, and CUDA if used)."""
        cuda = self.device.type == "cuda"
        return torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if cuda else None

    def _set_global_rng(self, state: tuple) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.device)

    def _generator(self, kind: str, shape, trans: float, scale: float, aspect=None) -> SampleGenerator:
        return SampleGenerator(kind, (shape[1], shape[0]), trans, scale, aspect, self.cfg.min_box_size)

    def _rank(self, scores: torch.Tensor, samples: np.ndarray, spread: float,
              peak: Optional[np.ndarray] = None, sharpness: float = float("inf")) -> torch.Tensor:
        """Ranking values of this frame's candidates (``core/selection.py``): the scores,
        mixed with a window whose sd is the Gaussian sampler's at this ``spread`` (half of
        it x the target's mean side), so it widens with the search after failures and
        skipped frames. The window is centred on the translation filter's ``peak`` in this
        frame with ``filter_window`` > 0, else on the last box with ``window_influence``
        > 0 (not in either profile: it kept Football at full speed but lost more than it
        gained once frames were skipped, docs/fast_profile.md, the fifteenth round).
        ``sharpness`` is the filter's peak-to-sidelobe ratio: below ``filter_window_psr``
        there is no window, and with ``filter_window_psr_full`` the influence scales with it."""
        cfg = self.cfg
        if peak is not None and cfg.filter_window > 0 and sharpness >= cfg.filter_window_psr:
            centre, influence = np.asarray(peak, dtype=np.float64), cfg.filter_window
            if cfg.filter_window_psr_full > 0:
                influence *= min(1.0, sharpness / cfg.filter_window_psr_full)
        elif cfg.window_influence > 0:
            centre, influence = centers(self.target)[0], cfg.window_influence
        else:
            return scores
        sigma = 0.5 * spread * float(self.target[2:].mean())
        centres = torch.as_tensor(np.vstack([centre, centers(samples)]), dtype=scores.dtype, device=scores.device)
        return windowed_ranking(scores, centres[1:], centres[0], sigma, influence)

    def _own_choice(self, scores: torch.Tensor, samples: np.ndarray) -> np.ndarray:
        """The centre of the classifier's own choice: its top-k by score alone, before any window."""
        return centers(samples[scores.topk(min(self.cfg.top_k, len(samples))).indices.cpu().numpy()]).mean(axis=0)

    def _agrees(self, own: np.ndarray, peak: np.ndarray) -> bool:
        """Whether the classifier's ``own`` choice lies within ``filter_agreement`` target
        sizes of the translation filter's ``peak``. Why: a filter that drifted beside a
        small target and a classifier that follows a look-alike each pull the other's
        answer; on a frame where they disagree the reported box is a guess, and teaching the
        filters that guess makes the drift stick. (Asked only with a peak and the check on.)"""
        return bool(self._near_peak(own[None], peak)[0])

    def _near_peak(self, points: np.ndarray, peak: np.ndarray) -> np.ndarray:
        """Which of ``points`` (N, 2) lie within ``filter_agreement`` target sizes of ``peak``:
        the one tolerance the agreement check and the gap's near-peak ranking share."""
        size = float(np.sqrt(np.prod(self.target[2:])))
        return np.linalg.norm(points - np.asarray(peak), axis=1) <= self.cfg.filter_agreement * size

    def _second_look(self, frame: np.ndarray, own: np.ndarray, peak: np.ndarray,
                     sharpness: float) -> Tuple[np.ndarray, float]:
        """Where the window should centre on a frame where the classifier and the filter
        disagree (``filter_second_look``): the filter answers again about the classifier's
        own choice, and the sharper of its two peaks (the higher peak-to-sidelobe ratio)
        stands. Why: the filter is searched about the last box, under a cosine window; after
        a gap (frames lost or skipped) a target that moved off centre answers weakly at the
        window's edge, and a look-alike left near the old place wins the first look."""
        again = self.refiner.locate(frame, moved(self.target, own - centers(self.target)[0]))
        if again is not None and again[1] > sharpness:
            return again
        return peak, sharpness

    def _gap_side(self, frame: np.ndarray, own: np.ndarray, peak: np.ndarray, spread: float) -> Optional[str]:
        """Which answer stands on a frame after a gap where the classifier's ``own`` choice
        and the filter's ``peak`` are apart: ``"classifier"`` without ``gap_flow_arbiter``;
        with it, the one nearer where the optical flow moves the last box's centre, and
        None (no change) without a trusted flow."""
        if not self.cfg.gap_flow_arbiter:
            return "classifier"
        shift = self._shift_since_previous(frame, spread)
        if shift is None:
            return None
        landed = centers(self.target)[0] + shift
        nearer_own = np.linalg.norm(own - landed) < np.linalg.norm(np.asarray(peak) - landed)
        return "classifier" if nearer_own else "filter"

    def _only_near(self, ranking: torch.Tensor, samples: np.ndarray, peak: np.ndarray) -> torch.Tensor:
        """``ranking`` with the candidates farther than ``filter_agreement`` target sizes
        from ``peak`` put last; unchanged when fewer than ``top_k`` lie that near."""
        near = self._near_peak(centers(samples), peak)
        if near.sum() < self.cfg.top_k:
            return ranking
        return ranking.masked_fill(torch.as_tensor(~near, device=ranking.device), float("-inf"))

    def _scores(self, feats: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.head(feats)[:, 1]

    # ------------------------------------------------------------------ public API
    def initialize(self, frame: np.ndarray, box) -> TrackResult:
        """Train a fresh classifier on ``box`` in ``frame``; any previous state is dropped.

        Invalid input raises before anything changes; a failure during training (out of
        memory, say) leaves the tracker IDLE rather than half-initialised.
        """
        frame = check_frame(frame)
        box = validate_box(box, frame.shape)
        try:
            return self._initialize(frame, box)
        except BaseException:
            self.reset()
            raise

    def _initialize(self, frame: np.ndarray, box: np.ndarray) -> TrackResult:
        t0 = time.perf_counter()
        cfg = self.cfg
        timer = _StageTimer(self.device)
        self.rng = np.random.default_rng(cfg.seed)
        head, gen_state, self._rng_state = self._blank
        self.gen = torch.Generator()
        self.gen.set_state(gen_state)
        self.head = copy.deepcopy(head)
        shape = frame.shape

        with timer("crops"):
            pos_boxes = draw_samples(self._generator("gaussian", shape, cfg.trans_pos, cfg.scale_pos),
                                     box, cfg.n_pos_init, self.rng, cfg.overlap_pos_init)
            n_whole = int(cfg.n_neg_init * cfg.neg_whole_fraction)
            neg_boxes = np.concatenate([
                draw_samples(self._generator("uniform", shape, cfg.trans_neg_init, cfg.scale_neg_init),
                             box, cfg.n_neg_init - n_whole, self.rng, cfg.overlap_neg_init),
                draw_samples(self._generator("whole", shape, cfg.trans_neg_init, cfg.scale_neg_init),
                             box, n_whole, self.rng, cfg.overlap_neg_init)])
            reg_boxes = draw_samples(
                self._generator("uniform", shape, cfg.trans_bbreg, cfg.scale_bbreg, cfg.aspect_bbreg),
                box, cfg.n_bbreg if cfg.bbreg else 0, self.rng, cfg.overlap_bbreg)
            source = self._source(frame, np.concatenate([box[None], pos_boxes, neg_boxes, reg_boxes]), box,
                                  keep=box)
            pos_boxes, neg_boxes, reg_boxes = (b[source.inside(b)] for b in (pos_boxes, neg_boxes, reg_boxes))
        if len(pos_boxes) == 0 or len(neg_boxes) == 0:
            # Nothing to learn from: a classifier that was never trained must not report
            # a confident box.
            raise ValueError(
                f"cannot train on box {np.round(box, 1).tolist()}: the first frame gives {len(pos_boxes)} "
                f"positive and {len(neg_boxes)} negative training samples (a target much smaller than "
                f"min_box_size {cfg.min_box_size:g} px, or no room around it); draw a larger box")
        with timer("features"):
            pos, neg = source.sample_set(pos_boxes), source.sample_set(neg_boxes)
        with timer("bbreg"):
            self.bbreg = BBoxRegressor(cfg.bbreg_alpha)
            if cfg.bbreg and len(reg_boxes):
                self.bbreg.fit(self._bbreg_features(source, reg_boxes), reg_boxes, box)
        with timer("update"):
            opt = make_optimizer(self.head, cfg.lr_init, cfg.fc6_lr_mult, cfg.momentum, cfg.weight_decay)
            now = cfg.iters_init_now or cfg.iters_init
            first = self._init_settings()
            self._train(pos, neg, now, opt, settings=first)
            self.optimizer = make_optimizer(self.head, cfg.lr_update, cfg.fc6_lr_mult, cfg.momentum,
                                            cfg.weight_decay)
            self.memory = SampleMemory(cfg.n_frames_long, cfg.n_frames_neg)
            keep_pos = torch.randperm(len(pos), generator=self.gen)[:cfg.n_pos_update].to(self.device)
            keep_neg = torch.randperm(len(neg), generator=self.gen)[:cfg.n_neg_update].to(self.device)
            self.memory.add(pos.take(keep_pos), neg.take(keep_neg))
            # The rest of the first-frame training, if any, runs on the next frames at the
            # update pace (``update_iters_per_frame``), with its own optimiser and samples.
            self.pending = (Update(pos, neg, cfg.iters_init - now, opt, settings=first)
                            if now < cfg.iters_init else None)
        with timer("scoring"):
            score = float(self._scores(source.features(source.prepare(box[None])))[0])

        self.refiner = None
        if cfg.translation_filter_weight > 0 or cfg.scale_filter_weight > 0:
            with timer("refine"):
                self.refiner = self._new_refiner(frame, box)
        self.target = box.copy()
        self._previous = frame.copy() if self._keeps_previous() else None  # the flow's reference
        self._turn = 0
        self._deferred = None  # a learning step for the old target is not for this one
        self.trans = cfg.trans
        self.failures = 0
        self.search_round = 0
        self.updates_skipped = 0
        self.frame_index = 0
        self.state = TrackState.TRACKING
        return TrackResult(box.copy(), score, self.state, 0, time.perf_counter() - t0, timer.stages)

    def track(self, frame: np.ndarray, attention: Optional[bool] = None, elapsed: float = 1.0,
              learn: bool = True) -> TrackResult:
        """Locate the target in ``frame``; also returns its attention map if ``attention``
        (default: the config's ``attention_output``).

        ``elapsed`` is the number of frame intervals since the last frame given to the
        tracker (1 when none was dropped); the search spreads wider with it (motion-aware
        search) and returns to normal on the next frame that follows directly.

        The result is complete before the frame's learning (its samples, an update step)
        runs. ``learn=False`` returns it then and leaves that learning to :meth:`learn`,
        so a driver can hand the box on first (a robot's controller waits for the box,
        not for the training); the next ``track`` runs whatever was left, so nothing is
        lost if the driver never calls it.
        """
        if self.head is None:
            raise RuntimeError("track() called before initialize()")
        if not (isinstance(elapsed, (int, float)) and np.isfinite(elapsed) and elapsed > 0):
            raise ValueError(f"elapsed must be a positive number of frame intervals, got {elapsed!r}")
        t0 = time.perf_counter()
        frame = check_frame(frame)
        cfg = self.cfg
        timer = _StageTimer(self.device)
        timer.stages.update(self.learn())  # what the previous frame left, before this one is searched
        self.frame_index += 1

        redetecting = (cfg.redetect and self.state == TrackState.LOST
                       and (self.failures - cfg.lost_after) % cfg.redetect_every == 0)
        spread = self.trans * self.motion_factor(elapsed)
        flow = None if redetecting else self._flow(frame, spread, elapsed)
        peak, sharpness = None, 0.0  # where the translation filter puts the target's centre in this frame
        agree = True  # whether the filters may learn from this frame
        if cfg.filter_search_share > 0 and self.refiner is not None and not redetecting:
            with timer("refine"):
                about = moved(self.target, flow) if flow is not None and cfg.filter_search_flow else self.target
                located = self.refiner.locate(frame, about)
            if located is not None:
                peak, sharpness = located
        with timer("crops"):
            if redetecting:
                samples = self._redetection_candidates(frame.shape)
                source = self._source(frame, samples, self.target, cfg.redetect_side)
            else:
                # the flow moved the filter's search instead (filter_search_flow): the peak leads
                samples = self._candidates(frame, spread, None if cfg.filter_search_flow and peak is not None else flow, peak)
                source = self._source(frame, samples, self.target)
            prepared = source.prepare(samples)
        with timer("features"):
            feats = source.features(prepared)
        with timer("scoring"):
            # A re-detection lattice is coarse (its neighbours are other places, not other
            # views of one place): its best position alone stands, above its own threshold,
            # and the next frame's local search refines it.
            scores = self._scores(feats)
            if redetecting:
                top_np = scores.topk(1).indices.cpu().numpy()
            else:
                if peak is not None and cfg.filter_agreement > 0:
                    own = self._own_choice(scores, samples)
                    agree = self._agrees(own, peak)
                    if not agree and cfg.filter_second_look:
                        peak, sharpness = self._second_look(frame, own, peak, sharpness)
                        agree = self._agrees(own, peak)
                near = None  # with the flow on the filter's side after a gap: rank only about its peak
                if not agree and 0 < cfg.gap_classifier_alone <= elapsed:
                    side = self._gap_side(frame, own, peak, spread)
                    if side == "classifier":
                        peak = None  # no window on a peak the gap may have misled
                    elif side == "filter" and cfg.gap_flow_both_ways:
                        near = peak
                ranking = self._rank(scores, samples, spread, peak, sharpness)
                if near is not None:
                    ranking = self._only_near(ranking, samples, near)
                top_np = ranking.topk(cfg.top_k).indices.cpu().numpy()
                top_np = top_np[nearer_group(samples[top_np], self.target, cfg.top_k_split_iou)]
            top = torch.as_tensor(top_np, device=scores.device)
            score = float(scores[top].mean())
        threshold = max(cfg.success_threshold, cfg.redetect_threshold) if redetecting else cfg.success_threshold
        success = score > threshold
        with timer("bbreg"):
            if success:
                top_boxes = samples[top_np]
                self.target = top_boxes.mean(axis=0)
                box = (self.bbreg.predict(self._bbreg_features(source, top_boxes, feats[top]), top_boxes).mean(axis=0)
                       if self.bbreg.fitted else self.target.copy())
            else:
                box = self.target.copy()  # keep the last confident box; never invent one
        if self.refiner is not None and success:
            with timer("refine"):
                # learnt with the frame's other samples, after the box is out
                box = self.refiner.refine(frame, box, learn=agree)
        self._update_state(success)
        att = None
        if attention if attention is not None else cfg.attention_output:
            with timer("attention"):
                att = self.attention_map(frame, box)
        # The flow prior's reference: a copy, since a driver may reuse its frame buffer.
        self._previous = frame.copy() if self._keeps_previous() and self.state == TrackState.TRACKING else None
        # an ambiguous frame (agreement gate) neither collects samples nor schedules an update
        self._deferred = (source, frame.shape, success, agree or not cfg.agreement_gates_classifier)
        if learn:
            add_stage_times(timer.stages, self.learn())
        return TrackResult(box, score, self.state, self.frame_index, time.perf_counter() - t0,
                           timer.stages, att, self.updates_skipped)

    def score_boxes(self, frame: np.ndarray, boxes) -> np.ndarray:
        """The classifier's scores of ``boxes`` (N, 4) in ``frame`` as it stands, read the
        way tracking reads candidates (one region pass in the fast profile, crops in the
        paper's), without tracking, learning or drawing a random number. For diagnostics:
        how the score answers a box's position and scale (``benchmarks/scale_response.py``)."""
        _, _, feats = self._read_boxes(frame, boxes, "score_boxes")
        return self._scores(feats).cpu().numpy()

    def regress_boxes(self, frame: np.ndarray, boxes) -> np.ndarray:
        """What bounding-box regression makes of ``boxes`` (N, 4) in ``frame``, read as
        tracking reads its best candidates, changing nothing (``boxes`` as they are if no
        regression was fitted). For diagnostics, like :meth:`score_boxes`."""
        source, boxes, feats = self._read_boxes(frame, boxes, "regress_boxes")
        if not self.bbreg.fitted:
            return boxes.copy()
        return self.bbreg.predict(self._bbreg_features(source, boxes, feats), boxes)

    def _read_boxes(self, frame: np.ndarray, boxes, caller: str):
        """(source, boxes, features) of ``boxes`` in ``frame`` from one source, as tracking reads them."""
        if self.head is None:
            raise RuntimeError(f"{caller}() called before initialize()")
        frame = check_frame(frame)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        source = self._source(frame, boxes, self.target)
        return source, boxes, source.features(source.prepare(boxes))

    def learn(self) -> Dict[str, float]:
        """Run the learning the last ``track(..., learn=False)`` left (nothing if none):
        this frame's training samples and its share of a scheduled update (and the box
        refiner's learning from it). Returns its stage times (``update``, ``refine``).
        ``updates_skipped`` counts from here on."""
        if self._deferred is None:
            return {}
        source, shape, success, teaches = self._deferred
        self._deferred = None
        timer = _StageTimer(self.device)
        with timer("update"):
            self._learn(source, shape, success, teaches)
        if self.refiner is not None and success:
            with timer("refine"):
                self.refiner.learn()
        return timer.stages

    def warm_up(self, shape=(480, 640), frames: int = 2) -> float:
        """One initialisation and ``frames`` tracked frames on a synthetic frame of
        ``shape`` (H, W), then :meth:`reset`; returns the seconds it took.

        Why: the first initialisation in a process pays one-time costs (torch's and
        oneDNN's thread pools and kernels for the trunk's shapes, the allocator's first
        blocks): in the 30 Hz evaluation the first sequence of a process took 0.20 s
        (median; up to 0.45 s) against 0.145 s for the others. A driver that builds the
        tracker before the target is known (the node, when it is configured) calls this
        then, so the first init box waits only for training. Nothing carries over:
        ``initialize`` starts every random stream afresh (tested)."""
        t0 = time.perf_counter()
        h, w = int(shape[0]), int(shape[1])
        noise = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        scene = cv2.blur(noise, (5, 5))  # texture at every scale the trunk reads
        box = np.array([0.4 * w, 0.4 * h, 0.15 * w, 0.2 * h])
        try:
            self.initialize(scene, box)
            for k in range(frames):
                self.track(np.roll(scene, 3 * (k + 1), axis=1))
        finally:
            self.reset()
        return time.perf_counter() - t0

    def reset(self) -> None:
        """Forget the target; ``track`` needs a new ``initialize``."""
        self.head = None
        self.memory = None
        self.pending = None
        self.refiner = None
        self._deferred = None
        self._previous = None
        self.state = TrackState.IDLE

    # ------------------------------------------------------------------ internals
    def _redetection_candidates(self, shape) -> np.ndarray:
        """This LOST frame's candidates: a lattice over the next tile of the whole frame,
        at the tracking scale (``core/redetection.py``)."""
        cfg = self.cfg
        zoom = cfg.region_zoom if cfg.feature_mode == "region" else 1.0
        scale = tracking_scale(self.target, cfg.crop_size, cfg.crop_padding, zoom)
        stride = float(getattr(self.trunk, "map_stride", 16.0))
        # One cell of slack: a region grows to the trunk's grid before it is capped.
        tiles = search_tiles(shape, self.target, scale, cfg.redetect_side - int(np.ceil(stride)), cfg.crop_size)
        tile = tiles[self.search_round % len(tiles)]
        self.search_round += 1
        return tile_candidates(tile, self.target, cfg.redetect_step * stride / scale)

    def _new_refiner(self, frame: np.ndarray, box: np.ndarray) -> BoxRefiner:
        """The correlation filters for a target first seen at ``box``, trained on that first frame."""
        cfg = self.cfg
        return BoxRefiner(frame, box, cfg.translation_filter_weight, cfg.scale_filter_weight,
                          translation=dict(padding=cfg.translation_filter_padding, lr=cfg.translation_filter_lr),
                          scale=dict(n_scales=cfg.scale_filter_scales, step=cfg.scale_filter_step,
                                     lr=cfg.scale_filter_lr, template_area=cfg.scale_filter_template))

    def _update_state(self, success: bool) -> None:
        if success:
            self.search_round = 0
            self.failures = 0
            self.trans = self.cfg.trans
            self.state = TrackState.TRACKING
        else:
            self.failures += 1
            grown = self.trans * (1 + self.cfg.trans_growth)
            self.trans = min(grown, self.cfg.trans_expand) if self.cfg.trans_growth > 0 else self.cfg.trans_expand
            self.state = TrackState.LOST if self.failures >= self.cfg.lost_after else TrackState.UNCERTAIN

    def _flow(self, frame: np.ndarray, spread: float, elapsed: float) -> Optional[np.ndarray]:
        """The target's shift (dx, dy) since the last confident frame by optical flow
        (``core/motion.py``), where ``flow_search`` asks for it on this frame (``always``, or
        ``dropped`` after ``elapsed`` >= ``flow_min_gap`` intervals) and the flow is trusted;
        else None."""
        cfg = self.cfg
        wanted = cfg.flow_search == "always" or (cfg.flow_search == "dropped" and elapsed >= cfg.flow_min_gap)
        return self._shift_since_previous(frame, spread) if wanted else None

    def _shift_since_previous(self, frame: np.ndarray, spread: float) -> Optional[np.ndarray]:
        """The optical flow's shift of the last box from the last confident frame to
        ``frame``; None without that frame or a trusted flow."""
        if self._previous is None:
            return None
        # The flow's window reaches past where the candidates' tails do (spread x the
        # target's size), and at least two target sizes: it must see the target land.
        shift = flow_shift(self._previous, frame, self.target, max(2.0, 1.5 * spread))
        return None if shift is None else np.asarray(shift, dtype=np.float64)

    def _keeps_previous(self) -> bool:
        """Whether the last confident frame is kept for the optical flow."""
        return self.cfg.flow_search != "never" or self.cfg.gap_flow_arbiter

    def _candidates(self, frame: np.ndarray, spread: float, flow: Optional[np.ndarray],
                    peak: Optional[np.ndarray] = None) -> np.ndarray:
        """This frame's candidates: ``n_candidates(spread)`` boxes drawn around the last
        box, or ``flow_share`` of them around it moved by the optical ``flow`` (when there
        is one), else ``filter_search_share`` of them about the translation filter's
        ``peak`` (when there is one)."""
        cfg = self.cfg
        draw = self._generator("gaussian", frame.shape, spread, cfg.scale)
        n = self.n_candidates(spread)
        shift, share = flow, cfg.flow_share
        if shift is None and peak is not None:
            shift, share = peak - centers(self.target)[0], cfg.filter_search_share
        if shift is None:
            return draw(self.target, n, self.rng)
        n_moved = int(round(n * share))
        return np.concatenate([draw(moved(self.target, shift), n_moved, self.rng),
                               draw(self.target, n - n_moved, self.rng)])

    def motion_factor(self, elapsed: float) -> float:
        """How much wider than usual to search after ``elapsed`` frame intervals."""
        cfg = self.cfg
        return float(min(1.0 + cfg.motion_growth * (max(elapsed, 1.0) - 1.0), cfg.motion_max_factor))

    def n_candidates(self, spread: float) -> int:
        """How many candidates to score at this ``spread``: ``n_samples``, or with
        ``n_samples_max`` as many as keep the search as dense as at the normal spread
        (they scatter over an area that grows with spread squared), up to that cap. Why:
        64 candidates scattered over a search three times as wide leave gaps wider than the
        target, and the mean of the top five of them is a coarse box."""
        cfg = self.cfg
        if cfg.n_samples_max <= cfg.n_samples:
            return cfg.n_samples
        dense = cfg.n_samples * (spread / cfg.trans) ** 2
        return int(min(cfg.n_samples_max, max(cfg.n_samples, round(dense))))

    def _learn(self, source, shape, success: bool, teaches: bool = True) -> None:
        """Collect this frame's samples when confident; short-term update on failure,
        long-term update every ``long_interval`` frames (paper section 4). A confident
        frame that does not teach (``agreement_gates_classifier``) only runs what is scheduled.

        An update is scheduled, then run: all of it now (paper), or
        ``update_iters_per_frame`` steps on this and the following frames, so no single
        frame stalls; a newer schedule replaces what is left of an older one.
        """
        cfg = self.cfg
        finishing_init = self.pending is not None and self.pending.optimizer is not self.optimizer
        if success and not teaches:
            pass  # confident enough to report, too ambiguous to learn from
        elif success:
            pos_boxes = self._draw(source, self._generator("gaussian", shape, cfg.trans_pos, cfg.scale_pos),
                                   self.target, cfg.n_pos_update, cfg.overlap_pos_update)
            neg_boxes = self._draw(source, self._generator("uniform", shape, cfg.trans_neg_update,
                                                           cfg.scale_neg_update),
                                   self.target, cfg.n_neg_update, cfg.overlap_neg_update)
            self.memory.add(source.sample_set(pos_boxes), source.sample_set(neg_boxes))
            if self.frame_index % cfg.long_interval == 0 and not finishing_init:
                self.pending = self._schedule(*self.memory.long_term(), long_term=True)
        elif not finishing_init:  # the first frame's training comes first
            self.pending = self._schedule(*self.memory.short_term(cfg.n_frames_short), long_term=False)
        if self.pending is not None and (len(self.pending.pos) == 0 or len(self.pending.neg) == 0):
            self.updates_skipped += 1  # nothing to train on: counted, never a silent no-op step
            self.pending = None
        if self.pending is not None:
            pos, neg, left, optimizer, rotate, settings = self.pending
            steps = left if cfg.update_iters_per_frame == 0 else min(left, cfg.update_iters_per_frame)
            self._train(pos, neg, steps, optimizer, rotate, settings)
            self.pending = self.pending._replace(left=left - steps) if left > steps else None

    def attention_map(self, frame: np.ndarray, box) -> np.ndarray:
        """Positive-class attention of ``box``'s crop, pasted into an (H, W) map in [0, 1].

        Raw input gradients are speckled pixel by pixel; a small Gaussian blur in crop
        space (sigma ``attention_blur`` crop pixels) makes the map readable as an image.
        """
        import cv2

        frame_t = frame_to_tensor(frame, self.device)
        crop = extract_crops(frame_t, np.asarray(box)[None], self.cfg.crop_size, self.cfg.crop_padding)
        m = box_attention(self.trunk, self.head, crop).cpu().numpy()
        if self.cfg.attention_blur > 0:
            m = cv2.GaussianBlur(m, (0, 0), self.cfg.attention_blur)
        m = m / m.max() if m.max() > 0 else m
        return paste_map(m, box, self.cfg.crop_size, self.cfg.crop_padding, frame.shape)
