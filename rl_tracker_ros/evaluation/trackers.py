"""One small interface over the trackers the harness compares: ours and OpenCV's.

A tracker spec is a name: ``dat`` (= ``dat-lambda5``, the paper's settings),
``dat-lambda0`` (the MDNet baseline), ``dat-lambda<L>``, ``dat-fast`` (the real-time
profile) or ``dat-fast-lambda<L>``, ``dat@config.yaml`` (our tracker with a YAML config),
or an OpenCV tracker: ``csrt``, ``kcf``, ``mil``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional

import cv2
import numpy as np

from ..core.config import TrackerConfig
from ..core.tracker import DATTracker


class EvalTracker:
    """init(frame, box) then update(frame) -> box; frames RGB uint8, boxes x, y, w, h."""

    name: str

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        raise NotImplementedError

    def update(self, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    #: seconds per stage of the last call, when the tracker reports them
    stages: Dict[str, float] = {}


class DATEval(EvalTracker):
    def __init__(self, name: str, config: TrackerConfig, trunk=None):
        self.name = name
        self.tracker = DATTracker(config, backbone=trunk)
        self.stages = {}

    def init(self, frame, box):
        self.stages = self.tracker.initialize(frame, box).stages

    def update(self, frame):
        r = self.tracker.track(frame)
        self.stages = r.stages
        return r.box


OPENCV = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}


class OpenCVEval(EvalTracker):
    """OpenCV's trackers (CSRT and KCF come with opencv-contrib-python-headless)."""

    def __init__(self, name: str):
        self.name = name
        factory = getattr(cv2, OPENCV[name], None) or getattr(getattr(cv2, "legacy", None), OPENCV[name], None)
        if factory is None:
            raise RuntimeError(
                f"OpenCV tracker {name!r} needs opencv-contrib-python-headless: "
                f"pip uninstall -y opencv-python-headless && pip install opencv-contrib-python-headless")
        self.factory = factory
        self.last = np.full(4, np.nan)

    def init(self, frame, box):
        if self.name == "kcf":
            # OpenCV's KCF declares failure when the response peak is below detect_thresh
            # (0.5) and then neither moves nor learns: on Coke it stalls on 91% of frames
            # (AUC 0.17). The published KCF always moves to the peak; detect_thresh 0 does
            # that and reproduces its numbers (Coke precision@20 0.83 vs 0.84 published).
            params = cv2.TrackerKCF_Params()
            params.detect_thresh = 0.0
            self.tracker = self.factory(params)
        else:
            self.tracker = self.factory()
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        self.tracker.init(bgr, tuple(int(round(v)) for v in box))
        self.last = np.asarray(box, dtype=np.float64)

    def update(self, frame):
        ok, box = self.tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if ok:
            self.last = np.asarray(box, dtype=np.float64)
        return self.last.copy()  # on failure OpenCV reports nothing; OTB scores the last box


_LAMBDA = re.compile(r"^dat-lambda(\d+(\.\d+)?)$")
_FAST = re.compile(r"^dat-fast(-lambda(\d+(\.\d+)?))?$")


def _on_profile(profile: str, base: TrackerConfig) -> TrackerConfig:
    """``profile``'s preset with whatever ``base`` sets away from the paper defaults
    (device, weights, backbone ... from the command line) applied on top."""
    paper = TrackerConfig()
    changed = {k: v for k, v in base.to_dict().items() if k != "profile" and v != getattr(paper, k)}
    return TrackerConfig.preset(profile, **changed)


def dat_config(spec: str, base: Optional[TrackerConfig] = None) -> TrackerConfig:
    base = base or TrackerConfig()
    if spec == "dat":
        return base.replace(lam=5.0)
    m = _LAMBDA.match(spec)
    if m:
        return base.replace(lam=float(m.group(1)))
    m = _FAST.match(spec)
    if m:
        fast = _on_profile("fast", base)
        return fast.replace(lam=float(m.group(2))) if m.group(2) else fast
    if spec.startswith("dat@"):
        return TrackerConfig.from_yaml(Path(spec[4:]))
    raise ValueError(f"unknown tracker {spec!r}: use dat, dat-lambda<L>, dat-fast, dat-fast-lambda<L>, "
                     f"dat@config.yaml, csrt, kcf or mil")


def folder_name(spec: str) -> str:
    """Where a tracker's results go: ``dat`` and ``dat-lambda5`` share one folder, as do
    ``dat-fast`` and ``dat-fast-lambda<its default>``."""
    if spec == "dat":
        return "dat-lambda5"
    m = _LAMBDA.match(spec)
    if m:
        return f"dat-lambda{float(m.group(1)):g}"
    m = _FAST.match(spec)
    if m:
        lam = float(m.group(2)) if m.group(2) else TrackerConfig.preset("fast").lam
        return f"dat-fast-lambda{lam:g}"
    if spec.startswith("dat@"):
        return "dat-" + Path(spec[4:]).stem
    return spec


def make_tracker(spec: str, base: Optional[TrackerConfig] = None, trunks: Optional[dict] = None) -> EvalTracker:
    """Build the tracker named by ``spec``; DAT trunks are shared through ``trunks``."""
    if spec in OPENCV:
        return OpenCVEval(spec)
    cfg = dat_config(spec, base)
    trunk = None
    if trunks is not None:
        from ..core.weights import load_backbone

        key = (cfg.backbone, cfg.weights, cfg.allow_random_backbone, cfg.feature_scale)
        if key not in trunks:
            trunks[key] = load_backbone(*key[:3])
        trunk = trunks[key]
    return DATEval(folder_name(spec), cfg, trunk)
