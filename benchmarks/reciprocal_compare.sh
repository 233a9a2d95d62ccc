#!/usr/bin/env bash
# Does reciprocative learning help? lambda = 0 against lambda > 0 in the paper profile
# (official form: squared first-layer gradients, batch-ratio R, summed cross-entropy;
# issue #14), on the development sequences, three seeds, one protocol for every lambda:
#
#   the paper profile unchanged (500/5000 first-frame samples, 50 steps, 256 candidates,
#   15-step updates), on the FIRST 100 FRAMES of each sequence (--max-frames 100: 755
#   frames over the eight), offline, one thread per run (OMP_NUM_THREADS=1).
#
# Cost on the 2-core CPU (one thread): about 0.4 h per seed for lambda = 0 and 1.6 h for
# lambda > 0 (a reciprocative step is 2.8 s: 50 of them on the first frame, 15 every 10
# frames), so about 11 CPU-hours in all. Every (lambda, seed, sequence) is stored as soon
# as it is done and read back on the next call: run it again to resume, for as long as
# it takes. JOBS=2 runs two sequences at once. A GPU runs it in minutes (--device cuda).
#
#   bash benchmarks/reciprocal_compare.sh            # all of it, resumable
#   LAMS="0 5" SEEDS=0 bash benchmarks/reciprocal_compare.sh   # a part
#   REPORT_ONLY=1 bash benchmarks/reciprocal_compare.sh         # the table from what is stored
set -euo pipefail
cd "$(dirname "$0")/.."
SEQS=${SEQS:-../shared/data/sequences}
OUT=${OUT:-results/reciprocal}
LAMS=${LAMS:-0 5 1}
SEEDS=${SEEDS:-0 1 2}
FRAMES=${FRAMES:-100}
JOBS=${JOBS:-1}
DEVICE=${DEVICE:-cpu}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [ -z "${REPORT_ONLY:-}" ]; then
  for seed in $SEEDS; do
    for lam in $LAMS; do
      echo "== lambda $lam, seed $seed ($(date -u +%H:%M:%S))"
      "$PY" -m rl_tracker_ros.tools.cli eval "$SEQS" --trackers "dat-lambda$lam" --seed "$seed" \
        --max-frames "$FRAMES" --device "$DEVICE" --jobs "$JOBS" --out "$OUT" --quiet
    done
  done
fi
"$PY" -m rl_tracker_ros.tools.cli report "$OUT" --out "$OUT/report"
