"""Run several trackers over the same sequences, frame by frame interleaved, and store
per-sequence boxes, scores and timing: ``OUT/<tracker>/<sequence>.{txt,json}``.

Interleaving means every frame is handed to all trackers back to back (in an order that
rotates each frame), so load on the machine hits all of them alike. Tracker time excludes
frame decoding; the first frame's initialisation is timed separately. Sequences whose
results exist are read back, not re-run, so a long evaluation can be resumed.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence as Seq

import numpy as np
from tqdm import tqdm

from ..core.config import TrackerConfig
from ..runner import write_boxes
from ..sequences import Sequence
from .metrics import evaluate
from .trackers import folder_name, make_tracker

log = logging.getLogger(__name__)


def result_path(out_dir: Path, spec: str, seq_name: str) -> Path:
    return Path(out_dir) / folder_name(spec) / f"{seq_name}.json"


def _first_valid(gt: np.ndarray) -> Optional[int]:
    ok = np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    return int(np.argmax(ok)) if ok.any() else None


def run_sequence_all(seq: Sequence, specs: List[str], out_dir: Path, base: Optional[TrackerConfig],
                     trunks: dict, max_frames: Optional[int], progress: bool, profile: bool = False) -> None:
    start = _first_valid(seq.groundtruth)
    if start is None:
        log.warning("%s: no valid ground-truth box; skipped", seq.name)
        return
    trackers = [make_tracker(s, base, trunks) for s in specs]
    n = len(seq) if not max_frames else min(len(seq), start + max_frames)
    rec = {t.name: {"boxes": [], "times": [], "init": 0.0, "stages": {}, "per_frame": []} for t in trackers}
    bar = tqdm(total=n - start, desc=seq.name, unit="frame", disable=not progress)
    for i, frame in enumerate(seq):
        if i >= n:
            break
        if i < start:
            continue
        order = trackers[(i % len(trackers)):] + trackers[:(i % len(trackers))]
        for t in order:
            r = rec[t.name]
            t0 = time.perf_counter()
            if i == start:
                t.init(frame, seq.groundtruth[start])
                box = seq.groundtruth[start]
                r["init"] = time.perf_counter() - t0
            else:
                box = t.update(frame)
                r["times"].append(time.perf_counter() - t0)
                for k, v in t.stages.items():
                    r["stages"][k] = r["stages"].get(k, 0.0) + v
                if profile:
                    r["per_frame"].append({k: round(v, 6) for k, v in t.stages.items()})
            r["boxes"].append(np.asarray(box, dtype=np.float64))
        bar.update(1)
    bar.close()
    gt = seq.groundtruth[start:n]
    for t in trackers:
        r = rec[t.name]
        folder = Path(out_dir) / t.name
        folder.mkdir(parents=True, exist_ok=True)
        boxes = np.array(r["boxes"]).reshape(-1, 4)
        write_boxes(folder / f"{seq.name}.txt", boxes)
        times = np.array(r["times"])
        scores = evaluate(boxes, gt).to_dict()
        scores.update(init_time_s=r["init"], fps=float(len(times) / times.sum()) if times.sum() > 0 else float("nan"),
                      frame_time_median_s=float(np.median(times)) if len(times) else float("nan"),
                      frame_time_p90_s=float(np.percentile(times, 90)) if len(times) else float("nan"),
                      stage_time_s=r["stages"], first_frame=start)
        if profile:
            scores["stage_time_per_frame_s"] = r["per_frame"]
        (folder / f"{seq.name}.json").write_text(json.dumps(scores, indent=1))


def run_evaluation(sequences: Seq[Sequence], specs: List[str], out_dir: Path,
                   base: Optional[TrackerConfig] = None, max_frames: Optional[int] = None,
                   resume: bool = True, progress: bool = True, profile: bool = False) -> Dict[str, Dict[str, dict]]:
    """Evaluate ``specs`` on ``sequences``; returns {tracker folder: {sequence: scores}}."""
    trunks: dict = {}
    for seq in sequences:
        todo = [s for s in specs if not (resume and result_path(out_dir, s, seq.name).exists())]
        if todo:
            run_sequence_all(seq, todo, out_dir, base, trunks, max_frames, progress, profile)
    return {folder_name(s): {seq.name: json.loads(result_path(out_dir, s, seq.name).read_text())
                             for seq in sequences if result_path(out_dir, s, seq.name).exists()}
            for s in specs}
