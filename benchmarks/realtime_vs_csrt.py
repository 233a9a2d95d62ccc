"""Issue #15's yardstick: each tracker's 30 Hz success AUC beside CSRT's, over seeds and runs.

Real-time runs of one seed spread only with the timing; a seed decides which sequences a
tracker loses. So the score is the mean over seeds of each seed's mean over its runs, and
the ratio is taken to CSRT's mean in the same runs. Reads result folders made by

    rl-tracker eval ../shared/data/sequences --trackers dat-fast,csrt --realtime 30 \\
        --seed S --out DIR/seedS_runN

(``bash benchmarks/realtime_vs_csrt.sh`` makes them), and prints one line per tracker:

    .venv/bin/python benchmarks/realtime_vs_csrt.py results/fast_levers7_realtime/run* ...

A run folder missing a sequence another one has is named and left out of that tracker's
mean, never averaged in.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

_SEED = re.compile(r"\+seed=(\d+)")


def tracker_runs(dirs: List[Path]) -> Dict[str, Dict[int, List[Dict[str, float]]]]:
    """{tracker: {seed: [{sequence: auc} per run]}} from the real-time folders in ``dirs``
    (the seed from a ``+seed=N`` folder name, 0 without one)."""
    out: Dict[str, Dict[int, List[Dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for d in dirs:
        for folder in sorted(p for p in d.iterdir() if p.is_dir() and "@" in p.name):
            m = _SEED.search(folder.name)
            name = _SEED.sub("", folder.name).split("@")[0]
            aucs = {js.stem: json.loads(js.read_text())["auc"] for js in sorted(folder.glob("*.json"))}
            if aucs:
                out[name][int(m.group(1)) if m else 0].append(aucs)
    return out


def seed_means(runs: Dict[int, List[Dict[str, float]]], label: str) -> Dict[int, float]:
    """Each seed's mean over its complete runs of the mean AUC over the sequences."""
    every = set().union(*(r for rs in runs.values() for r in rs))
    means = {}
    for seed, rs in sorted(runs.items()):
        whole = []
        for r in rs:
            if set(r) == every:
                whole.append(statistics.mean(r.values()))
            else:
                print(f"left out: {label} seed {seed}, a run without {sorted(every - set(r))}", file=sys.stderr)
        if whole:
            means[seed] = statistics.mean(whole)
    return means


def summary(dirs: List[Path], reference: str = "csrt") -> List[Tuple[str, Dict[int, float], float, float]]:
    """(tracker, {seed: mean}, mean over seeds, ratio to ``reference``) per tracker."""
    runs = tracker_runs(dirs)
    if reference not in runs:
        raise SystemExit(f"no {reference} results in {', '.join(map(str, dirs))}: it is the yardstick")
    ref = statistics.mean(seed_means(runs[reference], reference).values())
    rows = []
    for name in sorted(runs):
        per_seed = seed_means(runs[name], name)
        if per_seed:
            mean = statistics.mean(per_seed.values())
            rows.append((name, per_seed, mean, mean / ref))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="real-time result folders (one eval --out each)")
    ap.add_argument("--reference", default="csrt")
    args = ap.parse_args()
    for name, per_seed, mean, ratio in summary(args.dirs, args.reference):
        seeds = ", ".join(f"seed {s} {m:.3f}" for s, m in per_seed.items())
        print(f"{name:32s} mean over {len(per_seed)} seed(s) {mean:.3f} ({seeds}); {ratio:.2f}x {args.reference}")


if __name__ == "__main__":
    main()
