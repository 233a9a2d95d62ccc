#!/usr/bin/env bash
# Create .venv with everything the tracker, the evaluation harness and the tests need
# (idempotent). torch is pinned to 2.13.0, the CPU wheel: a newer one pulls GBs of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PIP=".venv/bin/pip -q --disable-pip-version-check"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, scipy, yaml, tqdm, platformdirs, pytest, matplotlib, rl_tracker_ros; import cv2; cv2.TrackerCSRT_create" 2>/dev/null; then
  $PIP install torch==2.13.0
  $PIP install -e ".[test,eval]"
  # The contrib build (CSRT, KCF) and the base build both provide cv2; keep only contrib.
  if .venv/bin/pip show opencv-python-headless >/dev/null 2>&1; then
    version=$(.venv/bin/pip show opencv-contrib-python-headless | sed -n 's/^Version: //p')
    .venv/bin/pip uninstall -y -q opencv-python-headless
    $PIP install --force-reinstall --no-deps "opencv-contrib-python-headless==$version"
  fi
fi
