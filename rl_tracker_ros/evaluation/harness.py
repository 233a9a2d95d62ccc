"""Run several trackers over the same sequences, frame by frame interleaved, and store
per-sequence boxes, scores and timing: ``OUT/<tracker folder>/<sequence>.{txt,json}``.

Interleaving means every frame is handed to the trackers that take it back to back (in
an order that rotates each frame), so load on the machine hits all of them alike. Tracker
time excludes frame decoding and is read from an injectable clock. Which frames each
tracker takes, and which box each frame is credited with, is the run's :class:`Mode`:
offline (every frame, waited for) or real time (a camera at a fixed rate; ``realtime.py``).

Sequences are independent: they run in this process, in ``jobs`` worker processes, or as
Ray tasks on a cluster (``ray_address``); the workers only compute, this process writes
every result. Stored results are read back instead of re-run (resume), but only when
they were made with the same tracker configuration and mode; otherwise the run stops
with the reason (``rerun`` replaces them).
"""
from __future__ import annotations

import json
import logging
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence as Seq

import numpy as np
from tqdm import tqdm

from .runner import write_boxes
from ..core.config import TrackerConfig
from ..core.interface import Tracker
from ..core.tracker import add_stage_times
from ..media.sequences import Sequence
from .metrics import evaluate, valid_frames
from .realtime import Mode
from .trackers import TrackerSpec, make_tracker

log = logging.getLogger(__name__)
Clock = Callable[[], float]


class ResumeMismatch(ValueError):
    """Stored results were made by another configuration than the one asked for."""


def result_path(out_dir: Path, spec: TrackerSpec, mode: Mode, seq_name: str) -> Path:
    return Path(out_dir) / spec.folder(mode) / f"{seq_name}.json"


def _first_valid(gt: np.ndarray) -> Optional[int]:
    ok = valid_frames(gt)
    return int(np.argmax(ok)) if ok.any() else None


def _normalised(record: dict) -> dict:
    return json.loads(json.dumps(record, default=str))


def stored_record(spec: TrackerSpec, mode: Mode) -> dict:
    """What a result file must say about its tracker and mode to be resumed from."""
    return _normalised({"tracker": spec.record(), "mode": mode.to_dict()})


def check_stored(path: Path, spec: TrackerSpec, mode: Mode) -> None:
    """Raise :class:`ResumeMismatch` unless ``path`` was made by ``spec`` in ``mode``."""
    stored = json.loads(path.read_text())
    want = stored_record(spec, mode)
    have = {k: stored.get(k) for k in want}
    _fill_added_keys(have, want)
    if have == want:
        return
    if have["tracker"] is None:
        why = "it records no tracker configuration (made by an older version)"
    else:
        diffs = _differences(have, want)
        why = "it differs in " + "; ".join(f"{k}: stored {a!r}, asked {b!r}" for k, a, b in diffs[:6])
    raise ResumeMismatch(f"{path} was not made by tracker {spec.text or spec.name!r} as configured now: {why}. "
                         f"Use --rerun to replace those results, or another --out.")


def _fill_added_keys(have: dict, want: dict) -> None:
    """A result stored before a configuration key existed was made with the behaviour that
    key's default keeps (keys are only ever added with a default that changes nothing), so
    a missing key counts as its default, and only as its default: asking for any other
    value still refuses the stored result."""
    stored_cfg = (have.get("tracker") or {}).get("config")
    asked_cfg = (want.get("tracker") or {}).get("config")
    if not isinstance(stored_cfg, dict) or not isinstance(asked_cfg, dict):
        return
    defaults = _normalised(TrackerConfig().to_dict())
    for key, value in asked_cfg.items():
        if key not in stored_cfg and key in defaults and defaults[key] == value:
            stored_cfg[key] = value


def _differences(have, want, prefix="") -> List[tuple]:
    if isinstance(have, dict) and isinstance(want, dict):
        out = []
        for k in sorted(set(have) | set(want)):
            out += _differences(have.get(k), want.get(k), f"{prefix}{k}.")
        return out
    return [] if have == want else [(prefix.rstrip("."), have, want)]


@dataclass
class _Run:
    """One tracker on one sequence while it runs."""

    spec: TrackerSpec
    tracker: Tracker
    schedule: object
    init_s: float = 0.0
    times: List[float] = field(default_factory=list)         # busy per frame, learning included
    result_times: List[float] = field(default_factory=list)  # until the box was handed on
    stages: Dict[str, float] = field(default_factory=dict)
    per_frame: List[dict] = field(default_factory=list)


def track_sequence(seq: Sequence, specs: List[TrackerSpec], mode: Mode, trunks: dict,
                   max_frames: Optional[int] = None, progress: bool = False, profile: bool = False,
                   clock: Clock = time.perf_counter, tracker_factory=None) -> Dict[str, dict]:
    """Track ``seq`` with every spec; returns {folder: result} where a result holds the
    boxes credited to each frame and the scores; nothing is written here.
    ``tracker_factory(spec, trunks)`` builds each tracker (default :func:`make_tracker`)."""
    tracker_factory = tracker_factory or make_tracker
    start = _first_valid(seq.groundtruth)
    if start is None:
        raise ValueError(f"{seq.name}: no valid ground-truth box to start from")
    n = len(seq) if not max_frames else min(len(seq), start + max_frames)
    init_box = np.asarray(seq.groundtruth[start], dtype=np.float64)
    runs = [_Run(s, tracker_factory(s, trunks), mode.schedule(init_box)) for s in specs]
    bar = tqdm(total=n - start, desc=seq.name, unit="frame", disable=not progress)
    for i, frame in enumerate(seq):
        if i >= n:
            break
        if i < start:
            continue
        k = i - start  # frame index within the evaluated part
        order = runs[(k % len(runs)):] + runs[:(k % len(runs))]
        for r in order:
            if k == 0:
                warm_up = getattr(r.tracker, "warm_up", None)
                if warm_up is not None and mode.rate_hz is not None:
                    # as the node does when it is configured, before any init box: off
                    # the camera's clock (DATTracker.warm_up says why)
                    warm_up(frame.shape[:2])
                t0 = clock()
                r.tracker.initialize(frame, init_box)
                r.init_s = clock() - t0
                r.schedule.start(r.init_s)
                continue
            elapsed = r.schedule.elapsed_for(k)
            if elapsed is None:
                continue  # busy (real time): this frame is skipped
            # A tracker that can learn after handing its box on (``learn``) does so, as
            # the node does: the box counts from when it was ready.
            learn = getattr(r.tracker, "learn", None)
            t0 = clock()
            result = r.tracker.track(frame, elapsed=elapsed, **({"learn": False} if learn else {}))
            at = clock() - t0
            stages = add_stage_times(dict(result.stages), learn() if learn else {})
            seconds = clock() - t0
            box = np.asarray(result.box, dtype=np.float64)
            r.schedule.done(k, seconds, box, at)
            r.times.append(seconds)
            r.result_times.append(at)
            add_stage_times(r.stages, stages)
            if profile:
                r.per_frame.append({name: round(v, 6) for name, v in stages.items()})
        bar.update(1)
    bar.close()
    gt = seq.groundtruth[start:n]
    return {r.spec.folder(mode): _result(r, n - start, gt, mode, start, profile) for r in runs}


def _result(r: _Run, n: int, gt: np.ndarray, mode: Mode, start: int, profile: bool) -> dict:
    boxes = r.schedule.boxes(n)
    times = np.array(r.times)
    scores = evaluate(boxes, gt).to_dict()
    scores.update(init_time_s=r.init_s, fps=float(len(times) / times.sum()) if times.sum() > 0 else float("nan"),
                  frame_time_median_s=float(np.median(times)) if len(times) else float("nan"),
                  frame_time_p90_s=float(np.percentile(times, 90)) if len(times) else float("nan"),
                  result_time_median_s=float(np.median(r.result_times)) if len(times) else float("nan"),
                  result_time_p90_s=float(np.percentile(r.result_times, 90)) if len(times) else float("nan"),
                  stage_time_s=r.stages, first_frame=start, **r.schedule.counts(n),
                  elapsed_max=int(max(r.schedule.elapsed, default=0)),
                  **stored_record(r.spec, mode))
    if profile:
        scores["stage_time_per_frame_s"] = r.per_frame
    return {"boxes": boxes.tolist(), "scores": scores}


# ------------------------------------------------------------------ workers
_WORKER_TRUNKS: dict = {}
#: OpenCV's own thread pool for its trackers. Interleaved in one process with torch's
#: threads on a small CPU, OpenCV's pool slowed every tracker's calls, ours and MIL's
#: (dev set at 30 Hz, 2 cores: our tracker skipped 119-198 frames with OpenCV's default
#: pool, 59 with one thread; MIL 14-25 and 0); CSRT and KCF keep up with every frame either
#: way, so their scores do not change. None leaves OpenCV's default.
OPENCV_THREADS: Optional[int] = 1


@dataclass(frozen=True)
class _Job:
    """What every sequence of a run is tracked with (picklable, for worker processes and Ray)."""

    mode: Mode
    max_frames: Optional[int]
    profile: bool
    clock: Clock
    factory: Optional[Callable]
    opencv_threads: Optional[int]


def _worker_job(job: _Job, seq: Sequence, specs: List[TrackerSpec], threads: Optional[int] = None,
                progress: bool = False) -> dict:
    """One sequence (in this process, a worker process or a Ray task): its results, or
    the failure with its traceback, which the driver reports before going on."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    if job.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(job.opencv_threads)
    try:
        return {"ok": track_sequence(seq, specs, job.mode, _WORKER_TRUNKS, job.max_frames, progress, job.profile,
                                     job.clock, job.factory)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _run_jobs(todo: List[tuple], job: _Job, jobs: int, ray_address: Optional[str], progress: bool):
    """Yield (sequence, outcome) as sequences finish, serially, in processes or on Ray."""
    if ray_address:
        import ray

        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False}
            if ray_address == "local":  # a Ray instance on this machine only, on loopback
                kwargs.update(address="local", _node_ip_address="127.0.0.1", num_cpus=max(1, jobs))
            else:
                kwargs.update(address=ray_address)
            ray.init(**kwargs)
        task = ray.remote(num_cpus=1)(_worker_job)
        pending = {task.remote(job, seq, specs, 1): seq for seq, specs in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            seq = pending.pop(done[0])
            yield seq, ray.get(done[0])
        return
    if jobs <= 1:
        for seq, specs in todo:
            yield seq, _worker_job(job, seq, specs, progress=progress)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_worker_job, job, seq, specs, threads): seq for seq, specs in todo}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def write_result(out_dir: Path, folder: str, seq_name: str, result: dict) -> None:
    path = Path(out_dir) / folder
    path.mkdir(parents=True, exist_ok=True)
    write_boxes(path / f"{seq_name}.txt", np.array(result["boxes"]).reshape(-1, 4))
    (path / f"{seq_name}.json").write_text(json.dumps(result["scores"], indent=1))


@dataclass
class EvaluationRun:
    """What ``run_evaluation`` did: results per tracker folder and sequence, the
    sequences that failed (with their tracebacks), and how the run was executed."""

    results: Dict[str, Dict[str, dict]]
    failed: Dict[str, str]
    notes: List[str]


def run_evaluation(sequences: Seq[Sequence], specs: List[TrackerSpec], out_dir: Path, mode: Mode = Mode(),
                   max_frames: Optional[int] = None, resume: bool = True, progress: bool = True,
                   profile: bool = False, jobs: int = 1, ray_address: Optional[str] = None,
                   clock: Clock = time.perf_counter, tracker_factory=None,
                   opencv_threads: Optional[int] = OPENCV_THREADS) -> EvaluationRun:
    """Evaluate ``specs`` on ``sequences`` in ``mode``; results stored under ``out_dir``.
    ``clock`` times every tracker call and ``tracker_factory`` builds the trackers (both
    replaceable, so tests can replay exact schedules; in workers they must pickle).
    ``opencv_threads`` sizes OpenCV's thread pool in every job (see ``OPENCV_THREADS``)."""
    notes = []
    if mode.realtime and (jobs > 1 or ray_address):
        notes.append(f"real-time mode with {'Ray tasks' if ray_address else f'{jobs} parallel jobs'}: "
                     f"the jobs share the machine, so each tracker's measured times (and its real-time "
                     f"score) reflect that load; use --jobs 1 for a quiet-machine measurement")
    todo = []
    for seq in sequences:
        pending = []
        for s in specs:
            path = result_path(out_dir, s, mode, seq.name)
            if resume and path.exists():
                check_stored(path, s, mode)
            else:
                pending.append(s)
        if pending:
            todo.append((seq, pending))
    failed: Dict[str, str] = {}
    bar = tqdm(total=len(todo), desc="sequences", unit="seq", disable=not progress or (jobs <= 1 and not ray_address))
    job = _Job(mode, max_frames, profile, clock, tracker_factory, opencv_threads)
    for seq, outcome in _run_jobs(todo, job, jobs, ray_address, progress and jobs <= 1):
        if "error" in outcome:
            failed[seq.name] = outcome["traceback"]
            log.error("%s failed, going on with the others: %s\n%s", seq.name, outcome["error"],
                      outcome["traceback"])
        else:
            for folder, result in outcome["ok"].items():
                write_result(out_dir, folder, seq.name, result)
        bar.update(1)
    bar.close()
    results = {}
    for s in specs:
        per_seq = {}
        for seq in sequences:
            path = result_path(out_dir, s, mode, seq.name)
            if path.exists():
                per_seq[seq.name] = json.loads(path.read_text())
        results[s.folder(mode)] = per_seq
    return EvaluationRun(results, failed, notes)
