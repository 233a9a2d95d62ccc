"""Run trackers over sequences and store per-sequence boxes and scores, resumably."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, Iterable

from ..core.tracker import DATTracker
from ..runner import run_sequence, write_boxes
from ..sequences import Sequence
from .metrics import evaluate


def evaluate_tracker(name: str, make_tracker: Callable[[], DATTracker], sequences: Iterable[Sequence],
                     out_dir: Path, resume: bool = True, progress: bool = True) -> Dict[str, dict]:
    """For each sequence: boxes to ``out_dir/name/<seq>.txt`` and scores plus timing to
    ``<seq>.json``. With ``resume``, sequences whose JSON exists are read, not re-run."""
    folder = Path(out_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for seq in sequences:
        js = folder / f"{seq.name}.json"
        if resume and js.exists():
            results[seq.name] = json.loads(js.read_text())
            continue
        out = run_sequence(make_tracker(), seq, seq.groundtruth[0], progress=progress)
        write_boxes(folder / f"{seq.name}.txt", out.boxes)
        scores = evaluate(out.boxes, seq.groundtruth[: len(out.boxes)]).to_dict()
        scores.update(init_time_s=out.init_time_s, fps=out.fps,
                      frame_time_median_s=float(sorted(out.frame_times_s)[len(out.frame_times_s) // 2]))
        js.write_text(json.dumps(scores, indent=1))
        results[seq.name] = scores
    return results
