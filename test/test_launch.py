"""The launch file, the parameters file and the installed executable agree with the node.

`launch` / `launch_ros` are not installable here (NOTES.md section 5), so the launch file
is checked by reading it, and the executable it names is started as a real process with
the parameters file it loads.
"""
import ast
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from ros_harness import RosHarness, header_for  # noqa: F401 (loopback environment first)
from conftest import MOBILENET_TFJS, SEQUENCES, needs_shared
import rclpy
from rcl_interfaces.srv import GetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from rl_tracker_ros.ros.conversions import rgb_to_image
from rl_tracker_ros.msg import TrackedObject
from rl_tracker_ros.ros.node import PARAMS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "tracker.launch.py"
PARAMS_FILE = ROOT / "config" / "tracker.yaml"


def launch_node_call() -> dict:
    tree = ast.parse(LAUNCH.read_text())
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(n.value, ast.Constant)}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "LifecycleNode"]
    assert len(calls) == 1
    kw = {k.arg: k.value for k in calls[0].keywords}
    return {k: consts.get(getattr(v, "id", None), getattr(v, "value", None)) for k, v in kw.items()} | {"_tree": tree}


def test_launch_file_starts_our_executable_with_our_parameters_file():
    call = launch_node_call()
    assert (call["package"], call["executable"], call["name"]) == ("rl_tracker_ros", "tracker_node", "rl_tracker")
    assert "namespace" in call, "launch_ros's LifecycleNode needs a namespace argument"
    text = LAUNCH.read_text()
    assert '"config", "tracker.yaml"' in text and 'LaunchConfiguration("params_file")' in text
    # The same executable is what colcon installs and what pip installs.
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "install(PROGRAMS nodes/tracker_node DESTINATION lib/${PROJECT_NAME})" in cmake
    assert '"tracker_node = rl_tracker_ros.ros.node:main"' in (ROOT / "setup.py").read_text()
    args = [n.args[0].value for n in ast.walk(call["_tree"])
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DeclareLaunchArgument"]
    readme = (ROOT / "README.md").read_text()
    for arg in args:
        assert f"`{arg}`" in readme, f"launch argument {arg} is not documented in the README"


def test_parameters_file_lists_every_parameter_with_the_code_default():
    values = yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]
    assert set(values) == set(PARAMS)
    for name, p in PARAMS.items():
        assert values[name] == p.default, name
    readme = (ROOT / "README.md").read_text()
    for name in PARAMS:
        assert f"`{name}`" in readme, f"parameter {name} is not documented in the README"


def start_node_and_probe(*overrides: str, stdout=subprocess.PIPE):
    """The installed executable with the parameters file (and ``-p`` overrides) as its own
    process, and a probe node with its executor in this one."""
    args = [a for o in overrides for a in ("-p", o)]
    proc = subprocess.Popen([sys.executable, str(ROOT / "nodes" / "tracker_node"), "--ros-args",
                             "--params-file", str(PARAMS_FILE), *args],
                            stdout=stdout, stderr=subprocess.STDOUT, text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = Node("probe", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    return proc, ctx, node, executor


def test_executable_runs_with_the_parameters_file_and_says_why_it_cannot_configure():
    """This test's weights cache is empty: the managed node's configure fails with the
    reason, the node stays unconfigured and keeps serving its parameters, lifecycle
    services and /diagnostics (ERROR, with the reason)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from lifecycle_msgs.srv import GetState

    proc, ctx, node, executor = start_node_and_probe("lam:=2.0")
    try:
        diag = []
        node.create_subscription(DiagnosticArray, "/diagnostics", diag.append, 10)
        client = node.create_client(GetParameters, "/rl_tracker/get_parameters")
        assert client.wait_for_service(timeout_sec=30), "the node process never came up"
        future = client.call_async(GetParameters.Request(names=["lam", "image_qos", "frame_buffer_size"]))
        executor.spin_until_future_complete(future, timeout_sec=10)
        values = [parameter_value_to_python(v) for v in future.result().values]
        assert values == [2.0, "sensor_data", 60]
        state = node.create_client(GetState, "/rl_tracker/get_state")
        assert state.wait_for_service(timeout_sec=10)
        future = state.call_async(GetState.Request())
        executor.spin_until_future_complete(future, timeout_sec=10)
        assert future.result().current_state.label == "unconfigured"
        end = time.monotonic() + 10
        while not diag and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.2)
        status = diag[0].status[0]
        assert status.level == DiagnosticStatus.ERROR and "weights" in status.message, status
        assert proc.poll() is None, "the node process died"
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "configure failed" in out and "rl-tracker weights" in out, out


# Issue #16: on a CPU the shipped parameters must give a tracked box within seconds of the
# init box, not the minutes of the paper profile (its first frame alone took 109 s here).
# The fast profile's first-frame training takes 0.2-0.3 s on a quiet machine (measured by
# benchmarks/node_rate.py and the demo), and this test saw its first TRACKING result 0.25 s and 1.2 s
# after the init box was answered in two quiet runs (it prints the time). This bound only has to tell the two
# profiles apart, with room for a loaded machine: a 3 s bound failed a fresh-clone CI run
# made beside another job.
FIRST_TRACKING_WITHIN_S = 20.0


@needs_shared(SEQUENCES / "Crossing")
@needs_shared(MOBILENET_TFJS)
def test_the_shipped_parameters_track_within_seconds_on_a_cpu(tmp_path):
    """No profile given: ``auto`` resolves to the real-time profile on this CPU, so the
    first TRACKING result follows the init box within seconds, not minutes."""
    from rl_tracker_ros.core.weights import import_weights
    from rl_tracker_ros.msg import InitBox
    from rl_tracker_ros.media.sequences import load_otb
    from rl_tracker_ros.srv import Initialize

    seq = load_otb(SEQUENCES / "Crossing")
    frames = [f for _, f in zip(range(60), seq)]
    weights = import_weights(MOBILENET_TFJS)
    log = tmp_path / "node.log"
    with open(log, "w") as out:
        proc, ctx, node, executor = start_node_and_probe(f"weights:={weights}", stdout=out)
    try:
        got = []
        node.create_subscription(TrackedObject, "tracked_object", got.append, 100)
        pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
        client = node.create_client(Initialize, "/rl_tracker/initialize")
        assert client.wait_for_service(timeout_sec=30), "the node process never came up"
        first = header_for(0)
        end = time.monotonic() + 20
        while not got and time.monotonic() < end:
            pub.publish(rgb_to_image(frames[0], first))
            executor.spin_once(timeout_sec=0.2)
        assert got, "no result for the first frame"
        x, y, w, h = (float(v) for v in seq.groundtruth[0])
        future = client.call_async(Initialize.Request(box=InitBox(header=first, x=x, y=y, width=w, height=h)))
        executor.spin_until_future_complete(future, timeout_sec=10)
        assert future.result().success, future.result().reason
        t0 = time.monotonic()
        tracking_at = None
        i = 0
        while time.monotonic() - t0 < FIRST_TRACKING_WITHIN_S:  # the camera goes on at 30 Hz
            i += 1
            pub.publish(rgb_to_image(frames[1 + (i - 1) % (len(frames) - 1)], header_for(i)))
            tick = time.monotonic() + 1 / 30
            while time.monotonic() < tick:
                executor.spin_once(timeout_sec=max(tick - time.monotonic(), 0.001))
            if any(m.state == TrackedObject.STATE_TRACKING for m in got):
                tracking_at = time.monotonic() - t0
                break
        print(f"first TRACKING result {tracking_at} s after the init box was answered")
        assert tracking_at is not None and tracking_at < FIRST_TRACKING_WITHIN_S, (tracking_at, log.read_text())
        assert proc.poll() is None
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        proc.terminate()
        proc.wait(timeout=10)
    assert "tracker profile fast (profile auto, device auto)" in log.read_text()
