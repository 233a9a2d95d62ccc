"""Accuracy and speed of the paper-profile DAT tracker on OTB-layout sequences.

    .venv/bin/python benchmarks/core_eval.py ../shared/data/sequences --lam 5 --out results/core
    .venv/bin/python benchmarks/core_eval.py ../shared/data/sequences --lam 0 --out results/core

Per-sequence boxes and scores land in OUT/dat-lambda<L>/; re-running resumes. Prints a
Markdown table of success AUC, precision@20 and frames per second.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.core.weights import load_backbone
from rl_tracker_ros.evaluation.benchmark import evaluate_tracker
from rl_tracker_ros.sequences import load_otb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("--lam", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=Path("results/core"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--sequences", nargs="*", help="names to run (default: all, shortest first)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seqs = sorted((load_otb(p) for p in args.root.iterdir() if (p / "img").is_dir()), key=len)
    if args.sequences:
        seqs = [s for s in seqs if s.name in args.sequences]
    cfg = TrackerConfig(lam=args.lam, weights=args.weights)
    trunk = load_backbone(cfg.backbone, cfg.weights)
    name = f"dat-lambda{args.lam:g}"
    res = evaluate_tracker(name, lambda: DATTracker(cfg, backbone=trunk), seqs, args.out)
    print(f"| {name} | AUC | P@20 | FPS | init s |\n|---|---|---|---|---|")
    for k, v in res.items():
        print(f"| {k} | {v['auc']:.3f} | {v['precision20']:.3f} | {v['fps']:.2f} | {v['init_time_s']:.1f} |")
    n = len(res)
    if n:
        print(f"| mean | {sum(v['auc'] for v in res.values()) / n:.3f} | "
              f"{sum(v['precision20'] for v in res.values()) / n:.3f} | "
              f"{sum(v['fps'] for v in res.values()) / n:.2f} | |")
    (args.out / name / "summary.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
