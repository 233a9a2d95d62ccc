#!/bin/bash
# The GPU check of issue #16, in one go (under 8 minutes on one GPU): machine and versions,
# the core's tests with CUDA, benchmarks/speed.py for both profiles in float32 and with a
# float16 trunk, and a 2000-frame paper-profile run that shows GPU memory bounded.
#
# On the lent GPU machine (bare and offline; its own python3 has torch with CUDA, numpy,
# scipy, opencv, pyyaml, tqdm, matplotlib, scikit-image and pytest; no ROS): prepare here
# with `bash benchmarks/gpu_prepare.sh`, then run with `.gpu_carry` carried:
#   bash benchmarks/gpu_check.sh --out $OUT
# Here, on the CPU, as far as it can (smaller runs, CUDA tests skipped, both said):
#   bash benchmarks/gpu_check.sh --device cpu --python .venv/bin/python --out /tmp/gpu_check
set -uo pipefail
DEVICE=cuda
PY=python3
OUT=results/gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
C=.gpu_carry
if [ ! -d "$C/shared" ]; then
  echo "error: $C/ is missing; run bash benchmarks/gpu_prepare.sh first (and carry $C)" >&2
  exit 2
fi
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$(ls "$C"/wheels/*.whl 2>/dev/null | tr '\n' ':')"
export RL_TRACKER_SHARED="$PWD/$C/shared" RL_TRACKER_WEIGHTS_DIR="$PWD/$C/weights" PYTHONUNBUFFERED=1
SEQS="$C/shared/data/sequences"
status=0
step() { echo; echo "== $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
$PY - "$DEVICE" <<'PY'
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
elif sys.argv[1].startswith("cuda"):
    sys.exit("CUDA asked for but not available: run with --device cpu")
else:
    print("no CUDA here: the CUDA tests skip, the runs below are shortened (said at each)")
PY
[ $? -eq 0 ] || exit 1

step "core tests (CUDA tests skip without a GPU)"
timeout 300 $PY -m pytest -q -p no:cacheprovider -rs test/test_cuda.py test/test_tracker.py test/test_fast_profile.py \
  test/test_paper_profile_unchanged.py test/test_geometry.py test/test_training.py test/test_attention.py \
  2>&1 | tee "$OUT/tests.txt" || status=1

if [ "$DEVICE" = cpu ]; then
  # The paper profile's first frame alone takes about 90 s on a 2-core CPU.
  echo; echo "(cpu: paper profile timed on 3 frames of Crossing only, fast on 60 frames a sequence;"
  echo " memory run: the fast profile for 300 frames instead of the paper profile for 2000)"
  PAPER="--paper-frames 3 --paper-sequences Crossing" FAST="--fast-frames 60"
  MEM="--memory-profile fast --memory-frames 300 --memory-warmup 100"
else
  PAPER="--paper-frames 0" FAST="--fast-frames 0" MEM="--memory-profile paper --memory-frames 2000 --memory-warmup 500"
fi
for precision in float32 float16; do
  if [ "$DEVICE" = cpu ] && [ "$precision" = float16 ]; then
    echo; echo "== speed, float16 trunk: skipped on the CPU (float16 autocast is for CUDA)"; continue
  fi
  step "speed: paper (lambda 5) and fast profiles, MobileNet, $DEVICE, trunk $precision"
  timeout 240 $PY benchmarks/speed.py "$SEQS" --profiles paper fast --backbones mobilenet --device "$DEVICE" \
    $PAPER $FAST --set trunk_precision=$precision --out "$OUT/speed_${DEVICE%%:*}_$precision.json" || status=1
done

step "memory: one sequence played back and forth, $DEVICE"
timeout 240 $PY benchmarks/speed.py "$SEQS" --sequences Crossing --profiles fast --backbones mobilenet \
  --device "$DEVICE" --fast-frames 10 $MEM --out "$OUT/memory_${DEVICE%%:*}.json" || status=1

step "targets on one GPU: paper median >= 30 FPS, first frame <= 2 s; fast >= 150 FPS"
$PY - "$OUT" "$DEVICE" <<'PY'
import json, sys
from pathlib import Path
out, device = Path(sys.argv[1]), sys.argv[2]
for f in sorted(out.glob("speed_*.json")):
    for row in json.loads(f.read_text())["rows"]:
        print(f"{f.name}: {row['profile']:5s} median {row['median_ms']} ms ({row['median_fps']} FPS), "
              f"first frame median {row['init_median_s']} s (max {row['init_max_s']} s), "
              f"AUC {row['auc']} over {row['frames']} frames")
mem = out / f"memory_{device.split(':')[0]}.json"
if mem.exists():
    m = json.loads(mem.read_text())["memory"]
    print("memory:", {k: v for k, v in m.items() if not k.endswith("_every_250_frames")})
if device.startswith("cpu"):
    print("(cpu run: the targets are for a GPU and are not judged here)")
PY
exit $status
