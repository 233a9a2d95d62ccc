"""The CMake build a colcon workspace runs installs the node, its messages, launch and config.

colcon itself is not installable here, but it only runs this package's CMakeLists.txt
with an install prefix; the test does the same with the ROS 2 wheels of this venv and
then imports the node and its messages from the install space, as `ros2 run` would.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_install_space_has_node_messages_launch_and_config(tmp_path):
    venv, prefix, build = Path(sys.prefix), tmp_path / "install", tmp_path / "build"
    # A workspace's src/ copy: this checkout's .venv lies inside it, and CMake refuses to
    # export include paths (the venv's numpy) from inside a source tree.
    src = tmp_path / "src" / "rl_tracker_ros"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "demo_out", "results",
                                                             "__pycache__", "*.so", "msg", "srv"))
    for d in ("msg", "srv"):
        shutil.copytree(ROOT / d, src / d)
    env = {**os.environ, "AMENT_PREFIX_PATH": str(venv)}
    for cmd in (["cmake", "-S", str(src), "-B", str(build), "-Wno-dev", f"-DCMAKE_PREFIX_PATH={venv}",
                 f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
                ["cmake", "--build", str(build), "--target", "install", "-j", "2"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    pkg = site / "rl_tracker_ros"
    for f in ("ros/node.py", "ros/worker.py", "tools/cli.py", "media/sequences.py", "evaluation/runner.py",
              "core/tracker.py", "core/weights_registry.json", "msg/_tracked_object.py", "srv/_initialize.py"):
        assert (pkg / f).exists(), f
    exe = prefix / "lib" / "rl_tracker_ros" / "tracker_node"
    assert exe.exists() and os.access(exe, os.X_OK)
    share = prefix / "share" / "rl_tracker_ros"
    for f in ("launch/tracker.launch.py", "config/tracker.yaml", "config/fastdds_loopback.xml", "package.xml"):
        assert (share / f).exists(), f
    run_env = {**os.environ, "PYTHONPATH": str(site),
               "LD_LIBRARY_PATH": f"{prefix / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    out = subprocess.run([sys.executable, "-c", "import rl_tracker_ros, rl_tracker_ros.ros.node as n; "
                          "from rl_tracker_ros.msg import TrackedObject; print(rl_tracker_ros.__file__); "
                          "print(TrackedObject.STATE_LOST)"],
                         cwd=tmp_path, env=run_env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == "3"
