#!/usr/bin/env bash
# Quick start, main job: the ROS 2 tracker node end to end. A camera player publishes a
# scene made of real photographs (shipped with scikit-image, exact ground truth; no
# network, no dataset) on `image`, starts tracking through the node's ~/initialize
# service and records `tracked_object` and `~/debug_image`: demo_out/node/ gets the
# annotated video, the boxes and summary.json (accuracy, states, latency, rate).
# The node resolves profile auto: fast on a CPU, paper on CUDA (-p profile:=paper to force it). DDS stays on loopback. Other cameras: bash scripts/demo.sh SOURCE [rl-tracker-demo options],
# SOURCE an OTB folder, a video file, an image glob or a rosbag2 folder (with --box x,y,w,h
# when it has no ground truth); see `.venv/bin/rl-tracker-demo --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
SHARED=${RL_TRACKER_SHARED:-../shared}
extra=()
# grep reads the whole list (not -q, which stops at the match and leaves the CLI a broken pipe)
if ! .venv/bin/rl-tracker weights list | grep "^mobilenet .* cached" >/dev/null; then
  if [ -d "$SHARED/weights/mobilenet_v1_1.0_224_tfjs" ]; then
    .venv/bin/rl-tracker weights import "$SHARED/weights/mobilenet_v1_1.0_224_tfjs"
  else
    mkdir -p demo_out
    printf 'allow_random_backbone: true\n' > demo_out/random_backbone.yaml
    extra=(-p "tracker_config:=$PWD/demo_out/random_backbone.yaml")
    echo "!!! No MobileNet weights (no cache, no $SHARED/weights): this demo runs with a RANDOM" >&2
    echo "!!! backbone; its accuracy means nothing. Get weights: .venv/bin/rl-tracker weights download mobilenet" >&2
  fi
fi
if [ $# -eq 0 ]; then
  set -- scene --frames 40
fi
# The node's default profile (auto) is the fast one on a CPU and the paper one on a CUDA
# device; -p profile:=paper runs DAT as published anywhere.
exec .venv/bin/rl-tracker-demo "$@" "${extra[@]}"
