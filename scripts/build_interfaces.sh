#!/usr/bin/env bash
# Generate the Python classes of msg/ and srv/ (rosidl) for the pip/venv set-up, with the
# ROS 2 wheels from PyPI and no ROS install (NOTES.md section 5). In a ROS 2 workspace,
# `colcon build` does this instead.
#
# The typesupport libraries go to $VENV/lib (on the library path the ROS wheels set up);
# the generated Python modules (rl_tracker_ros/msg, rl_tracker_ros/srv and their
# extension modules) are copied into the source package, which pip installs in editable
# mode, exactly where a colcon install puts them beside the node's modules. They are
# build outputs (.gitignore). Idempotent; about 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
BUILD=$ROOT/build/interfaces

# The wheels' CMake exports name the Python of the machine that built them.
pyinc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$PY" -c 'import numpy; print(numpy.get_include())')
{ grep -rl --include='*.cmake' /opt/python/cp311-cp311 "$VENV/share" 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g"

mkdir -p "$BUILD"
AMENT_PREFIX_PATH=$VENV cmake -S "$ROOT" -B "$BUILD" -Wno-dev \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$PY" -DPYTHON_INSTALL_DIR="$BUILD/python" \
  -DRL_TRACKER_INSTALL_PYTHON=OFF -DBUILD_TESTING=OFF >"$BUILD/configure.log" \
  || { cat "$BUILD/configure.log"; exit 1; }
AMENT_PREFIX_PATH=$VENV cmake --build "$BUILD" --target install -j 2 >"$BUILD/build.log" \
  || { tail -50 "$BUILD/build.log"; exit 1; }

generated=$BUILD/python/rl_tracker_ros
rm -rf "$ROOT/rl_tracker_ros/msg" "$ROOT/rl_tracker_ros/srv"
cp -r "$generated/msg" "$generated/srv" "$ROOT/rl_tracker_ros/"
cp "$generated"/*.so "$ROOT/rl_tracker_ros/"
"$PY" -c "from rl_tracker_ros.msg import TrackedObject, InitBox; from rl_tracker_ros.srv import Initialize; print('interfaces ready:', TrackedObject.__name__, InitBox.__name__, Initialize.__name__)"
