#!/usr/bin/env bash
# Create .venv with everything the tracker and its tests need (idempotent).
# torch is pinned to 2.13.0: the CPU wheel; a newer one pulls several GB of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, cv2, scipy, yaml, tqdm, platformdirs, pytest, rl_tracker_ros" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
fi
