"""Speed and accuracy of the tracker profiles, side by side, on recorded sequences.

    .venv/bin/python benchmarks/speed.py ../shared/data/sequences --out results/speed/cpu.json

For each backbone and profile it prints the median and 90th-percentile tracker time per
frame, the first-frame initialisation time, peak memory, success AUC / precision@20, and
the speed ratio against the ``paper`` profile measured in the same run.

Frames are resized to 640x480 (``--size``), the frame size the targets are stated for;
boxes are scaled back, so accuracy is scored in each sequence's own pixels. The paper
profile takes seconds per frame on a CPU, so by default it runs only the first
``--paper-frames`` frames of each sequence: its times are real, but its AUC is over
those frames only, and ``--paper-results`` adds its full-sequence scores from an
earlier ``rl-tracker eval`` run. ``--memory-frames N`` adds a long run (the first
sequence played back and forth) that reports resident memory after warm-up and at the
end, to show that memory stays bounded.

Timing does not depend on the weights' values, so a backbone without local weights (VGG-M
here) is timed with a random trunk, says so, and gets no accuracy numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
import yaml
from tqdm import tqdm

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker, resolve_device
from rl_tracker_ros.core.weights import WeightsError, load_backbone
from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.media.sequences import load_sequences


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; NaN elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resized(frame: np.ndarray, size) -> np.ndarray:
    return frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def scale_of(frame: np.ndarray, size) -> np.ndarray:
    """(sx, sy, sx, sy): original pixels -> benchmark pixels."""
    if size is None:
        return np.ones(4)
    sx, sy = size[0] / frame.shape[1], size[1] / frame.shape[0]
    return np.array([sx, sy, sx, sy])


def run_sequence(tracker: DATTracker, seq, size, max_frames: Optional[int]) -> Dict:
    boxes, times, rss = [], [], []
    init_s = float("nan")
    n = len(seq) if not max_frames else min(len(seq), max_frames)
    for i, frame in enumerate(seq):
        if i >= n:
            break
        k = scale_of(frame, size)
        img = resized(frame, size)
        if i == 0:
            r = tracker.initialize(img, seq.groundtruth[0] * k)
            init_s = r.time_s
        else:
            r = tracker.track(img)
            times.append(r.time_s)
        boxes.append(r.box / k)
        rss.append(rss_mb())
    scores = evaluate(np.array(boxes), seq.groundtruth[:n])
    return {"frames": n, "init_s": init_s, "times": times, "auc": scores.auc,
            "precision20": scores.precision20, "peak_rss_mb": float(np.nanmax(rss))}


def summarise(runs: List[Dict]) -> Dict:
    times = np.concatenate([r["times"] for r in runs])
    return {
        "frames": int(sum(r["frames"] for r in runs)),
        "median_ms": round(1000 * float(np.median(times)), 1),
        "p90_ms": round(1000 * float(np.percentile(times, 90)), 1),
        "mean_ms": round(1000 * float(np.mean(times)), 1),
        "median_fps": round(1.0 / float(np.median(times)), 1),
        "init_median_s": round(float(np.median([r["init_s"] for r in runs])), 3),
        "init_max_s": round(float(np.max([r["init_s"] for r in runs])), 3),
        "peak_rss_mb": round(float(max(r["peak_rss_mb"] for r in runs)), 1),
        "auc": round(float(np.mean([r["auc"] for r in runs])), 3),
        "precision20": round(float(np.mean([r["precision20"] for r in runs])), 3),
    }


def memory_run(trunk, cfg: TrackerConfig, seq, size, n_frames: int, warmup: int = 1000) -> Dict:
    """Track ``n_frames`` frames of ``seq`` played forwards and backwards; RSS over time."""
    frames = [resized(f, size) for f in seq]
    k = scale_of(next(iter(seq)), size)
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    tracker = DATTracker(cfg, backbone=trunk)
    cuda = tracker.device.type == "cuda"
    tracker.initialize(frames[0], seq.groundtruth[0] * k)
    samples, gpu = [], []
    for i in tqdm(range(1, n_frames), desc="memory run", unit="frame"):
        tracker.track(frames[order[i % len(order)]])
        if i % 250 == 0:
            samples.append((i, rss_mb()))
            if cuda:  # what the tensors hold, and what the caching allocator keeps
                gpu.append((i, torch.cuda.memory_allocated(tracker.device) / 2**20,
                            torch.cuda.memory_reserved(tracker.device) / 2**20))
    after = [m for i, m in samples if i >= warmup]
    out = {"frames": n_frames, "warmup_frames": warmup, "rss_mb_at_warmup": after[0] if after else None,
           "rss_mb_max_after_warmup": max(after) if after else None,
           "rss_mb_end": samples[-1][1] if samples else None,
           "growth_after_warmup_mb": round(max(after) - after[0], 1) if after else None,
           "rss_mb_every_250_frames": [round(m, 1) for _, m in samples]}
    if cuda:
        late = [(a, r) for i, a, r in gpu if i >= warmup]
        out.update(gpu_allocated_mb_every_250_frames=[round(a, 1) for _, a, _ in gpu],
                   gpu_reserved_mb_every_250_frames=[round(r, 1) for _, _, r in gpu],
                   gpu_allocated_growth_after_warmup_mb=round(max(a for a, _ in late) - late[0][0], 1)
                   if late else None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="dataset root(s) or sequence folders")
    ap.add_argument("--profiles", nargs="*", default=["paper", "fast"])
    ap.add_argument("--backbones", nargs="*", default=["mobilenet", "vggm"])
    ap.add_argument("--sequences", nargs="*", help="only these sequence names")
    ap.add_argument("--size", default="640x480", help="resize frames to WxH ('none': keep)")
    ap.add_argument("--paper-frames", type=int, default=20, help="frames per sequence for the paper profile (0: all)")
    ap.add_argument("--paper-sequences", nargs="*", help="time the paper profile on these sequences only")
    ap.add_argument("--fast-frames", type=int, default=0, help="frames per sequence for the fast profile (0: all)")
    ap.add_argument("--paper-results", type=Path, help="folder of a full `rl-tracker eval` run of the paper profile")
    ap.add_argument("--memory-frames", type=int, default=0, help="also run one profile this long (e.g. 10000)")
    ap.add_argument("--memory-profile", default="fast", help="the profile of the memory run (default fast)")
    ap.add_argument("--memory-warmup", type=int, default=1000, help="frames before memory growth is measured")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a tracker setting in every profile, e.g. trunk_precision=float16")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()

    size = None if args.size == "none" else tuple(int(v) for v in args.size.lower().split("x"))
    seqs = load_sequences(args.inputs)
    if args.sequences:
        seqs = [s for s in seqs if s.name in args.sequences]
    dev = resolve_device(args.device)
    overrides = {k.strip(): yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    machine = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "device": str(dev), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
               "frame_size": args.size, "date": time.strftime("%Y-%m-%d")}
    print("#", json.dumps(machine))
    rows, trunks = [], {}
    for name in args.backbones:
        try:
            trunk, weights = load_backbone(name), "real"
        except WeightsError:
            trunk, weights = load_backbone(name, allow_random=True), "random (timing only)"
        trunks[name] = trunk
        medians = {}
        for profile in args.profiles:
            cfg = TrackerConfig.preset(profile, device=args.device, **overrides)
            limit = args.paper_frames if profile == "paper" else args.fast_frames
            runs = []
            todo = [s for s in seqs if profile != "paper" or not args.paper_sequences
                    or s.name in args.paper_sequences]
            for seq in tqdm(todo, desc=f"{name}/{profile}", unit="seq"):
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                r = run_sequence(DATTracker(cfg, backbone=trunk), seq, size, limit or None)
                if dev.type == "cuda":
                    r["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
                runs.append(r)
            row = {"backbone": name, "weights": weights, "profile": profile, "lam": cfg.lam,
                   "overrides": overrides,
                   "frames_per_sequence": limit or "all", **summarise(runs)}
            if dev.type == "cuda":
                row["peak_gpu_mb"] = round(max(r["peak_gpu_mb"] for r in runs), 1)
            if weights != "real":
                row["auc"] = row["precision20"] = None
            row["per_sequence"] = {s.name: {"auc": round(r["auc"], 3), "precision20": round(r["precision20"], 3),
                                            "frames": r["frames"], "init_s": round(r["init_s"], 3),
                                            "median_ms": round(1000 * float(np.median(r["times"])), 1)}
                                   for s, r in zip(todo, runs)}
            if profile == "paper" and args.paper_results and weights == "real":
                full = [json.loads((args.paper_results / f"{s.name}.json").read_text())
                        for s in seqs if (args.paper_results / f"{s.name}.json").exists()]
                if full:
                    row["full_run"] = {"source": str(args.paper_results), "sequences": len(full),
                                       "auc": round(float(np.mean([f["auc"] for f in full])), 3),
                                       "precision20": round(float(np.mean([f["precision20"] for f in full])), 3)}
            medians[profile] = row["median_ms"]
            row["speedup_vs_paper"] = (round(medians["paper"] / row["median_ms"], 1)
                                       if "paper" in medians else None)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "per_sequence"}), flush=True)
    out = {"machine": machine, "rows": rows}
    if args.memory_frames:
        trunk = trunks.get("mobilenet") or load_backbone("mobilenet", allow_random=True)
        out["memory"] = memory_run(trunk, TrackerConfig.preset(args.memory_profile, device=args.device, **overrides),
                                   seqs[0], size, args.memory_frames, args.memory_warmup)
        out["memory"]["profile"] = args.memory_profile
        print(json.dumps({k: v for k, v in out["memory"].items() if k != "rss_mb_every_250_frames"}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
