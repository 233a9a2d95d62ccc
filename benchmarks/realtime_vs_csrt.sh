#!/usr/bin/env bash
# Issue #15's yardstick: dat-fast (and TRACKERS) beside CSRT at 30 Hz, RUNS runs of each seed
# in SEEDS, then the mean over seeds and the ratio to CSRT (benchmarks/realtime_vs_csrt.py).
# A real-time score needs a quiet machine: pause background jobs first.
#
#   bash benchmarks/realtime_vs_csrt.sh                         # seeds 0 1 2, one run each
#   SEEDS=0 RUNS="1 2 3" TRACKERS=dat-fast,csrt,kcf,mil OUT=results/x bash benchmarks/realtime_vs_csrt.sh
#   EXTRA="--drop 0.1 --drop-burst 3" OUT=results/y bash benchmarks/realtime_vs_csrt.sh   # a lossy camera link
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
dirs=()
for seed in $SEEDS; do
  for run in $RUNS; do
    "$PY" -m rl_tracker_ros.tools.cli eval "$SEQS" --trackers "$TRACKERS" --seed "$seed" \
      --realtime "$RATE" --out "$OUT/seed${seed}_run${run}" --quiet $EXTRA
    dirs+=("$OUT/seed${seed}_run${run}")
  done
done
"$PY" benchmarks/realtime_vs_csrt.py "${dirs[@]}"
