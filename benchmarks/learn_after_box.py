"""What handing the box on before learning is worth in real time: one 30 Hz run (the
``--realtime`` protocol) of the fast profile as the harness and the node now drive it
(``track(..., learn=False)``, box counted, then ``learn()``) beside the same tracker
learning inside ``track`` (its box counted when the whole call ends, as before), and
OpenCV's CSRT, KCF and MIL, interleaved frame by frame on the development sequences.

    .venv/bin/python benchmarks/learn_after_box.py ../shared/data/sequences results/learn_after_box/run1

Run it three times (run1..3) on a quiet machine; ``rl-tracker report`` the run folders.
The second tracker is named by ``benchmarks/configs/learn_inside.yaml`` (the fast profile,
nothing changed): it is the same tracker, wrapped so it offers no ``learn()``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rl_tracker_ros.evaluation.harness import run_evaluation
from rl_tracker_ros.evaluation.realtime import Mode
from rl_tracker_ros.evaluation.trackers import make_tracker, parse_specs
from rl_tracker_ros.media.sequences import load_sequences

INSIDE = Path(__file__).parent / "configs" / "learn_inside.yaml"


class LearnsInside:
    """A tracker without ``learn()``: the harness counts its box at the end of ``track``."""

    def __init__(self, tracker):
        self.tracker = tracker

    def initialize(self, frame, box):
        return self.tracker.initialize(frame, box)

    def track(self, frame, *, attention=None, elapsed=1.0):
        return self.tracker.track(frame, attention=attention, elapsed=elapsed)


def factory(spec, trunks=None):
    tracker = make_tracker(spec, trunks)
    return LearnsInside(tracker) if spec.text == f"dat@{INSIDE}" else tracker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sequences", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rate", type=float, default=30.0)
    args = ap.parse_args()
    specs = parse_specs(f"dat-fast,dat@{INSIDE},csrt,kcf,mil")
    run = run_evaluation(load_sequences([args.sequences]), specs, args.out, mode=Mode(args.rate),
                         progress=False, tracker_factory=factory)
    for name, per_seq in run.results.items():
        aucs = [s["auc"] for s in per_seq.values()]
        print(f"{name}: mean AUC {sum(aucs) / len(aucs):.3f} over {len(aucs)} sequences")


if __name__ == "__main__":
    main()
