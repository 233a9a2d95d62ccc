"""A process's first initialisation, cold or after ``DATTracker.warm_up`` (issue #15,
twenty-third round). Run each in a fresh process, nothing else on the machine:

    OMP_NUM_THREADS=2 .venv/bin/python results/fast_levers23/probes/cold_warm.py cold|warm SEQUENCE

Prints the warm-up's time, then two initialisations on the sequence's first frame.
"""
import sys
from pathlib import Path

from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_sequence


def main() -> None:
    warm, name = sys.argv[1] == "warm", sys.argv[2]
    seq = load_sequence(Path(__file__).resolve().parents[4] / "shared" / "data" / "sequences" / name)
    frame = next(iter(seq))
    tracker = DATTracker(TrackerConfig.preset("fast"))
    spent = tracker.warm_up(frame.shape[:2]) if warm else 0.0
    first = tracker.initialize(frame, seq.groundtruth[0]).time_s
    second = tracker.initialize(frame, seq.groundtruth[0]).time_s
    print(f"{name} {'warm' if warm else 'cold'}: warm-up {spent:.3f} s, first initialisation {first:.3f} s, "
          f"second {second:.3f} s")


if __name__ == "__main__":
    main()
