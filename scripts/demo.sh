#!/usr/bin/env bash
# Quick start, main job: track a real OTB sequence end to end with the paper's settings
# (lambda = 5) and write the boxes plus an annotated video with the attention overlay.
# Needs no network: the MobileNet weights are imported from ../shared/weights when the
# cache lacks them. Usage: bash scripts/demo.sh [SEQUENCE_FOLDER] [MAX_FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
SHARED=${RL_TRACKER_SHARED:-../shared}
SEQ=${1:-$SHARED/data/sequences/Crossing}
FRAMES=${2:-30}
if ! .venv/bin/rl-tracker weights list | grep -q "^mobilenet .* cached"; then
  if [ -d "$SHARED/weights/mobilenet_v1_1.0_224_tfjs" ]; then
    .venv/bin/rl-tracker weights import "$SHARED/weights/mobilenet_v1_1.0_224_tfjs"
  else
    echo "No MobileNet weights: run '.venv/bin/rl-tracker weights download mobilenet' (needs internet)." >&2
    exit 1
  fi
fi
if [ ! -d "$SEQ" ]; then
  echo "No input sequence at $SEQ: pass an OTB folder, video file or image glob as the first argument." >&2
  exit 1
fi
mkdir -p demo_out
name=$(basename "$SEQ")
.venv/bin/rl-tracker run "$SEQ" --max-frames "$FRAMES" --attention \
  --out "demo_out/${name}_boxes.txt" --video "demo_out/${name}.mp4"
echo "wrote demo_out/${name}_boxes.txt and demo_out/${name}.mp4"
