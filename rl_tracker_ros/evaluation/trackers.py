"""The trackers the harness compares, ours and OpenCV's, behind the one interface
(:class:`~rl_tracker_ros.core.interface.Tracker`), and the specs that name them.

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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..core.config import TrackerConfig
from ..core.interface import Tracker
from ..core.tracker import DATTracker, TrackResult, TrackState
from .realtime import Mode


OPENCV = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}


class OpenCVTracker:
    """OpenCV's trackers (CSRT and KCF come with opencv-contrib-python-headless) as a
    :class:`~rl_tracker_ros.core.interface.Tracker`. OpenCV reports no score: ``score``
    is NaN; a frame where OpenCV reports failure keeps the last box, state UNCERTAIN."""

    def __init__(self, name: str):
        self.name = name
        self.frame_index = -1
        factory = getattr(cv2, OPENCV[name], None) or getattr(getattr(cv2, "legacy", None), OPENCV[name], None)
        if factory is None:
            raise RuntimeError(
                f"OpenCV tracker {name!r} needs opencv-contrib-python-headless: "
                f"pip uninstall -y opencv-python-headless && pip install opencv-contrib-python-headless")
        self.factory = factory
        self.last = np.full(4, np.nan)

    def initialize(self, frame: np.ndarray, box) -> TrackResult:
        t0 = time.perf_counter()
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
        self.frame_index = 0
        return self._result(TrackState.TRACKING, t0)

    def track(self, frame: np.ndarray, *, attention: Optional[bool] = None, elapsed: float = 1.0) -> TrackResult:
        """(OpenCV's trackers take no frame interval and have no attention map.)"""
        t0 = time.perf_counter()
        ok, box = self.tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if ok:
            self.last = np.asarray(box, dtype=np.float64)
        self.frame_index += 1
        # On failure OpenCV reports nothing; OTB scores the last box.
        return self._result(TrackState.TRACKING if ok else TrackState.UNCERTAIN, t0)

    def _result(self, state: TrackState, t0: float) -> TrackResult:
        return TrackResult(box=self.last.copy(), score=float("nan"), state=state, frame_index=self.frame_index,
                           time_s=time.perf_counter() - t0)


_LAMBDA = re.compile(r"^dat-lambda(\d+(\.\d+)?)$")
_FAST = re.compile(r"^dat-fast(-lambda(\d+(\.\d+)?))?$")
#: set by the tracker name, so not accepted as an override (the name would lie)
NAMED_KEYS = ("profile", "lam")
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclass(frozen=True)
class TrackerSpec:
    """One tracker of an evaluation: what it is, its settings, and where its results go.

    Built from a name only at the command line (:meth:`parse`); everything after works
    on these fields. ``profile`` is None for an OpenCV tracker; our tracker runs the
    profile's settings with ``lam`` (None: the profile's), or a YAML ``config_file``
    (``dat@FILE``), then ``overrides`` (``--set``, ``--config``, ``--device``,
    ``--weights``, ``--random-backbone``) and ``seed``. The results folder (:meth:`folder`)
    is the name plus the settings that change something, so runs with different settings
    never share a folder; :meth:`record` is the full configuration stored beside every
    result and checked when a run resumes.
    """

    name: str
    profile: Optional[str] = None
    lam: Optional[float] = None
    config_file: Optional[str] = None
    seed: Optional[int] = None
    overrides: Tuple[Tuple[str, Any], ...] = ()
    text: str = ""  # as the user wrote it, for messages

    def __post_init__(self) -> None:
        if self.opencv and self.name not in OPENCV:
            raise ValueError(f"{self.name!r} is no OpenCV tracker ({', '.join(OPENCV)}); "
                             f"build our trackers' specs with TrackerSpec.parse")

    @classmethod
    def parse(cls, text: str, overrides: Tuple[Tuple[str, Any], ...] = ()) -> "TrackerSpec":
        """``dat`` (= ``dat-lambda5``), ``dat-lambda<L>``, ``dat-fast``, ``dat-fast-lambda<L>``,
        ``dat@config.yaml``, ``csrt``, ``kcf`` or ``mil``; a ``seed`` among ``overrides``
        becomes the spec's seed."""
        text = text.strip()
        rest = dict(overrides)
        seed = rest.pop("seed", None)
        items = tuple(sorted(rest.items()))
        if text in OPENCV:
            return cls(text, text=text)
        if text == "dat":
            return cls("dat-lambda5", "paper", 5.0, None, seed, items, text)
        m = _LAMBDA.match(text)
        if m:
            return cls(f"dat-lambda{float(m.group(1)):g}", "paper", float(m.group(1)), None, seed, items, text)
        m = _FAST.match(text)
        if m:
            lam = float(m.group(2)) if m.group(2) else None
            name = f"dat-fast-lambda{lam if lam is not None else TrackerConfig.preset('fast').lam:g}"
            return cls(name, "fast", lam, None, seed, items, text)
        if text.startswith("dat@"):
            return cls("dat-" + Path(text[4:]).stem, None, None, text[4:], seed, items, text)
        raise ValueError(f"unknown tracker {text!r}: use dat, dat-lambda<L>, dat-fast, dat-fast-lambda<L>, "
                         f"dat@config.yaml, csrt, kcf or mil")

    @property
    def opencv(self) -> bool:
        return self.config_file is None and self.profile is None

    def base_config(self) -> TrackerConfig:
        """The tracker's settings from its name alone (no overrides, no seed)."""
        if self.opencv:
            raise ValueError(f"{self.name} is an OpenCV tracker: it has no DAT config")
        if self.config_file is not None:
            return TrackerConfig.from_yaml(Path(self.config_file))
        cfg = TrackerConfig.preset(self.profile)
        return cfg if self.lam is None else cfg.replace(lam=self.lam)

    def config(self) -> TrackerConfig:
        """The settings our tracker runs with: the name's, then every override and the seed."""
        extra = {} if self.seed is None else {"seed": self.seed}
        return self.base_config().replace(**dict(self.overrides), **extra)

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
        return self.name + suffix + mode.suffix

    def record(self) -> Dict[str, Any]:
        """The full configuration, stored with every result of this tracker."""
        if self.opencv:
            params = {"detect_thresh": 0.0} if self.name == "kcf" else {}
            return {"kind": "opencv", "name": self.name, "opencv_version": cv2.__version__, "params": params}
        return {"kind": "dat", "name": self.name, "config": self.config().to_dict()}


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
    specs = [TrackerSpec.parse(t, items) for t in text.split(",") if t.strip()]
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


def make_tracker(spec: TrackerSpec, trunks: Optional[dict] = None) -> Tracker:
    """Build the tracker ``spec`` names; DAT trunks are shared through ``trunks``."""
    if spec.opencv:
        return OpenCVTracker(spec.name)
    cfg = spec.config()
    trunk = None
    if trunks is not None:
        from ..core.weights import load_backbone

        # the tracker sets the trunk's feature scale from these two: one trunk per scale
        key = (cfg.backbone, cfg.weights, cfg.allow_random_backbone, cfg.feature_scale, cfg.loss_reduction)
        if key not in trunks:
            trunks[key] = load_backbone(*key[:3])
        trunk = trunks[key]
    return DATTracker(cfg, backbone=trunk)
