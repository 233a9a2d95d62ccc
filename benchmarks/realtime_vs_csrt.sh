#!/usr/bin/env bash
# Issue #15's yardstick: dat-fast (and TRACKERS) beside CSRT at 30 Hz, RUNS runs of each seed
# in SEEDS, then the mean over seeds and the ratio to CSRT (benchmarks/realtime_vs_csrt.py).
# A real-time score needs a quiet machine: pause background jobs first.
#
#   bash benchmarks/realtime_vs_csrt.sh                         # seeds 0 1 2, one run each
#   SEEDS=0 RUNS="1 2 3" TRACKERS=dat-fast,csrt,kcf,mil OUT=results/x bash benchmarks/realtime_vs_csrt.sh
#   EXTRA="--drop 0.1 --drop-burst 3" OUT=results/y bash benchmarks/realtime_vs_csrt.sh   # a lossy camera link
#   SEPARATE=0 ...                                              # all trackers interleaved in one process
set -euo pipefail
cd "$(dirname "$0")/.."
SEQS=${SEQS:-../shared/data/sequences}
OUT=${OUT:-results/realtime_vs_csrt}
SEEDS=${SEEDS:-0 1 2}
RUNS=${RUNS:-1}
TRACKERS=${TRACKERS:-dat-fast,csrt}
RATE=${RATE:-30}
PY=${PY:-.venv/bin/python}
EXTRA=${EXTRA:-}
# SEPARATE=1 (the default): each tracker in its own process, one after the other, into the
# same run folder. Interleaved in one process (SEPARATE=0, the harness's way), CSRT's calls
# slowed ours: on 2026-12-06, back to back, dat-fast's median frame on Girl was 63 ms beside
# CSRT and 26 ms alone (results/fast_levers13_realtime/README.md); a robot runs one tracker.
SEPARATE=${SEPARATE:-1}
if [ "$SEPARATE" = 1 ]; then
  IFS=, read -r -a groups <<< "$TRACKERS"   # one eval process per tracker
else
  groups=("$TRACKERS")                       # one eval process for all of them
fi
dirs=()
for seed in $SEEDS; do
  for run in $RUNS; do
    for group in "${groups[@]}"; do
      "$PY" -m rl_tracker_ros.tools.cli eval "$SEQS" --trackers "$group" --seed "$seed" \
        --realtime "$RATE" --out "$OUT/seed${seed}_run${run}" --quiet $EXTRA
    done
    dirs+=("$OUT/seed${seed}_run${run}")
  done
done
"$PY" benchmarks/realtime_vs_csrt.py "${dirs[@]}"
