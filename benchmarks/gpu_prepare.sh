#!/bin/bash
# Fill .gpu_carry/ (ignored) with what benchmarks/gpu_check.sh needs on a bare, offline GPU
# machine: the MobileNet weights (upstream folder and the converted cache file), four small
# development sequences, and the one pure-Python wheel the core needs there (platformdirs).
# Never committed; under 40 MiB. Run from the repository root after scripts/setup_venv.sh:
#   bash benchmarks/gpu_prepare.sh [../shared]
set -euo pipefail
SHARED=${1:-../shared}
C=.gpu_carry
rm -rf "$C"
mkdir -p "$C/shared/data/sequences" "$C/shared/weights" "$C/weights" "$C/wheels"
cp -r "$SHARED/weights/mobilenet_v1_1.0_224_tfjs" "$C/shared/weights/"
for s in Crossing KiteSurf Girl Deer; do
  cp -r "$SHARED/data/sequences/$s" "$C/shared/data/sequences/"
done
RL_TRACKER_WEIGHTS_DIR="$C/weights" .venv/bin/rl-tracker weights import "$C/shared/weights/mobilenet_v1_1.0_224_tfjs"
.venv/bin/pip download --quiet --no-deps --only-binary=:all: -d "$C/wheels" platformdirs
du -sh "$C"
