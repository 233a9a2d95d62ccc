"""One small interface over the trackers the harness compares: ours and OpenCV's.

A tracker spec (:class:`TrackerSpec`) is a name: ``dat`` (= ``dat-lambda5``, the
paper's settings), ``dat-lambda0`` (the MDNet baseline), ``dat-lambda<L>``, ``dat-fast``
(the real-time profile) or ``dat-fast-lambda<L>``, ``dat@config.yaml`` (our tracker with
a YAML config), or an OpenCV tracker: ``csrt``, ``kcf``, ``mil``; plus the command
line's overrides of our tracker's settings.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..core.config import TrackerConfig
from ..core.tracker import DATTracker
from .realtime import Mode


class EvalTracker:
    """init(frame, box) then update(frame) -> box; frames RGB uint8, boxes x, y, w, h."""

    name: str

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        raise NotImplementedError

    def update(self, frame: np.ndarray, elapsed: int = 1) -> np.ndarray:
        """The box in ``frame``; ``elapsed`` frame intervals passed since the last call."""
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

    def update(self, frame, elapsed=1):
        r = self.tracker.track(frame, elapsed=elapsed)
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

    def update(self, frame, elapsed=1):  # OpenCV's trackers take no frame interval
        ok, box = self.tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if ok:
            self.last = np.asarray(box, dtype=np.float64)
        return self.last.copy()  # on failure OpenCV reports nothing; OTB scores the last box


_LAMBDA = re.compile(r"^dat-lambda(\d+(\.\d+)?)$")
_FAST = re.compile(r"^dat-fast(-lambda(\d+(\.\d+)?))?$")
#: set by the tracker name, so not accepted as an override (the name would lie)
NAMED_KEYS = ("profile", "lam")
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclass(frozen=True)
class TrackerSpec:
    """One tracker of an evaluation: what it is, its settings, and where its results go.

    ``text`` is what the user wrote (``dat``, ``dat-fast-lambda1``, ``dat@cfg.yaml``,
    ``csrt``); ``overrides`` (from ``--set``, ``--config``, ``--device``, ``--weights``,
    ``--random-backbone``) apply to our trackers on top of the named settings, every one of
    them. The results folder is the name plus the overrides that change something, so runs
    with different settings never share a folder; ``record()`` is the full configuration
    stored beside every result and checked when a run resumes.
    """

    text: str
    overrides: Tuple[Tuple[str, Any], ...] = ()

    @property
    def opencv(self) -> bool:
        return self.text in OPENCV

    def base_config(self) -> TrackerConfig:
        """The tracker's settings from its name alone (no overrides)."""
        spec = self.text
        if spec == "dat":
            return TrackerConfig.preset("paper", lam=5.0)
        m = _LAMBDA.match(spec)
        if m:
            return TrackerConfig.preset("paper", lam=float(m.group(1)))
        m = _FAST.match(spec)
        if m:
            fast = TrackerConfig.preset("fast")
            return fast.replace(lam=float(m.group(2))) if m.group(2) else fast
        if spec.startswith("dat@"):
            return TrackerConfig.from_yaml(Path(spec[4:]))
        raise ValueError(f"unknown tracker {spec!r}: use dat, dat-lambda<L>, dat-fast, dat-fast-lambda<L>, "
                         f"dat@config.yaml, csrt, kcf or mil")

    def config(self) -> TrackerConfig:
        """The settings our tracker runs with: the name's, then every override."""
        if self.opencv:
            raise ValueError(f"{self.text} is an OpenCV tracker: it has no DAT config")
        return self.base_config().replace(**dict(self.overrides))

    def base_name(self) -> str:
        """``dat`` and ``dat-lambda5`` are one tracker, as are ``dat-fast`` and
        ``dat-fast-lambda<its default>``."""
        if self.opencv:
            return self.text
        if self.text.startswith("dat@"):
            return "dat-" + Path(self.text[4:]).stem
        cfg = self.base_config()
        return f"dat-fast-lambda{cfg.lam:g}" if cfg.profile == "fast" else f"dat-lambda{cfg.lam:g}"

    def changed(self) -> Dict[str, Any]:
        """The overrides that change the named settings (others are no-ops)."""
        if self.opencv:
            return {}
        base, cfg = self.base_config().to_dict(), self.config().to_dict()
        return {k: cfg[k] for k in sorted(cfg) if cfg[k] != base[k]}

    def folder(self, mode: Mode = Mode()) -> str:
        changed = self.changed()
        suffix = _SAFE.sub("_", "".join(f"+{k}={_fmt(v)}" for k, v in changed.items()))
        if len(suffix) > 80:
            digest = hashlib.sha1(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()[:10]
            suffix = "+cfg-" + digest
        return self.base_name() + suffix + mode.suffix

    def record(self) -> Dict[str, Any]:
        """The full configuration, stored with every result of this tracker."""
        if self.opencv:
            params = {"detect_thresh": 0.0} if self.text == "kcf" else {}
            return {"kind": "opencv", "name": self.text, "opencv_version": cv2.__version__, "params": params}
        return {"kind": "dat", "name": self.base_name(), "config": self.config().to_dict()}


def _fmt(value: Any) -> str:
    """A setting as a folder-name part (a path by its last part: the record keeps it whole)."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value).name
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return str(value)


def parse_specs(text: str, overrides: Optional[Dict[str, Any]] = None) -> List[TrackerSpec]:
    """``--trackers`` (a comma list) with the command line's overrides; checked up front
    so a typo fails before any tracking."""
    overrides = dict(overrides or {})
    named = sorted(set(overrides) & set(NAMED_KEYS))
    if named:
        raise ValueError(f"{', '.join(named)} is set by the tracker name in an evaluation (dat-lambda<L>, "
                         f"dat-fast-lambda<L>, dat@config.yaml), not by --set or --config")
    items = tuple(sorted(overrides.items()))
    specs = [TrackerSpec(t.strip(), items) for t in text.split(",") if t.strip()]
    if not specs:
        raise ValueError("--trackers names no tracker")
    for s in specs:
        if not s.opencv:
            s.config()  # unknown names, unknown keys and invalid values fail here
    folders = [s.folder() for s in specs]
    dupes = sorted({f for f in folders if folders.count(f) > 1})
    if dupes:
        raise ValueError(f"--trackers names the same tracker twice: {', '.join(dupes)}")
    return specs


def make_tracker(spec: TrackerSpec, trunks: Optional[dict] = None) -> EvalTracker:
    """Build the tracker ``spec`` names; DAT trunks are shared through ``trunks``."""
    if spec.opencv:
        return OpenCVEval(spec.text)
    cfg = spec.config()
    trunk = None
    if trunks is not None:
        from ..core.weights import load_backbone

        # the tracker sets the trunk's feature scale from these two: one trunk per scale
        key = (cfg.backbone, cfg.weights, cfg.allow_random_backbone, cfg.feature_scale, cfg.loss_reduction)
        if key not in trunks:
            trunks[key] = load_backbone(*key[:3])
        trunk = trunks[key]
    return DATEval(spec.base_name(), cfg, trunk)
