"""A seeded campaign of hostile input against the real node process, over loopback DDS.

Malformed and absurd images, init boxes, service calls (bursts and reset storms
included) and parameter sets; then the process must be alive, its log free of
tracebacks, every service call answered, its memory not growing from one campaign to the
next, and it must still track a real sequence as well as before the campaign.
"""
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters

from ros_harness import RosHarness, header_for  # noqa: I100 (loopback environment first)
from conftest import MOBILENET_TFJS, ROOT, SEQUENCES, needs_shared
from test_fuzz_inputs import png_claiming
from test_node import NODE_REAL_MIN_IOU

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_srvs.srv import Trigger

from rl_tracker_ros.ros.conversions import rgb_to_image
from rl_tracker_ros.core.boxes import iou
from rl_tracker_ros.core.weights import import_weights
from rl_tracker_ros.tools.demo import node_command
from rl_tracker_ros.msg import InitBox, TrackedObject
from rl_tracker_ros.media.sequences import load_otb
from rl_tracker_ros.srv import Initialize

CAMPAIGN_SEED = int(os.environ.get("RL_TRACKER_CAMPAIGN_SEED", "20261201"))  # other seeds: other campaigns
CAMPAIGN_SIZE = 320
FIRST_CAMPAIGN_MB = 250  # memory kept after the first campaign: ten of its 4K frames' worth
MEMORY_SLACK_MB = 50     # growth from the second campaign: a leak (measured -10 to +21 MB)
ENCODINGS = ["rgb8", "bgr8", "mono8", "mono16", "16UC1", "yuv422", "uyvy", "yuyv", "rgba8", "8UC3",
             "bayer_rggb8", "", "rgb8\x00", "RGB8", "32FC1"]
FLOATS = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-30, 0.0, -5.0, 1.0, 50.0, 2.0**32 - 1]
PARAM_NAMES = ["weights", "tracker_config", "profile", "lam", "score_threshold", "lost_after", "seed", "device",
               "input_encoding", "init_stamp_tolerance", "max_image_pixels", "publish_attention",
               "frame_buffer_size", "no_such_parameter", ""]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` in MB (``RssShmem``: the part that is shared memory, such
    as the DDS segments of the processes it receives from)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


class Driver:
    """The campaign's side: publishers and clients of one node, on a thread of its own."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("campaign", context=self.context)
        n = self.node
        self.image = n.create_publisher(Image, "image", qos_profile_sensor_data)
        self.compressed = n.create_publisher(CompressedImage, "image/compressed", qos_profile_sensor_data)
        self.init_box = n.create_publisher(InitBox, "init_box", 10)
        self.init_roi = n.create_publisher(RegionOfInterest, "init_roi", 10)
        # The campaign keeps hundreds of calls in flight. A client's default queue (10)
        # would drop the oldest requests before they went out, and answers before they were
        # read, whenever this process falls behind: that is the client losing them, not the
        # node. The node's own queue (service_queue_depth) is what is under test.
        calls = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.initialize = n.create_client(Initialize, "/rl_tracker/initialize", qos_profile=calls)
        self.reset = n.create_client(Trigger, "/rl_tracker/reset", qos_profile=calls)
        self.set_parameters = n.create_client(SetParameters, "/rl_tracker/set_parameters", qos_profile=calls)
        self.results = []
        self.lock = threading.Lock()
        n.create_subscription(TrackedObject, "tracked_object", self._keep, 100)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, msg):
        with self.lock:
            self.results.append(msg)

    def results_for(self, header):
        with self.lock:
            return [m for m in self.results if m.header.stamp == header.stamp]

    def close(self):
        self.executor.shutdown(timeout_sec=10)
        self.thread.join(timeout=10)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


wait_for = RosHarness.wait_for


def publish_until(publisher, msg, predicate, timeout: float, what: str, every: float = 2.0) -> None:
    """Publish ``msg`` and again every ``every`` s until ``predicate`` holds. Camera images
    go best effort, as drivers send them: a frame of a few hundred kB is many UDP fragments,
    and a loaded machine may lose one, and with it the frame. A camera would send the next
    one; the test sends this one again."""
    end = time.monotonic() + timeout
    while True:
        publisher.publish(msg)
        try:
            wait_for(predicate, min(every, end - time.monotonic()), what)
            return
        except AssertionError:
            if time.monotonic() >= end:
                raise AssertionError(f"timed out after {timeout} s waiting for: {what}") from None


def hostile_image(rng) -> Image:
    enc = ENCODINGS[rng.integers(len(ENCODINGS))]
    kind = rng.integers(6)
    w, h = int(rng.integers(1, 64)), int(rng.integers(1, 48))
    step = w * 3 + int(rng.integers(-2, 4))
    n = max(step * h + int(rng.integers(-3, 3)), 0)
    if kind == 0:    # claims a huge size, carries a few bytes
        w, h, step = int(rng.choice([2**31 - 1, 100000, 65535])), int(rng.choice([2**31 - 1, 100000, 1])), 3
    elif kind == 1:  # a frame a little over the 4K cap, data to match
        w, h, step, enc = 3841, 2160, 3841 * 3, "rgb8"
        n = step * h
    elif kind == 2:  # valid, of alternating sizes
        enc, step = "rgb8", w * 3
        n = step * h
    elif kind == 3:  # odd-width YUV
        enc, w = str(rng.choice(["yuv422", "uyvy", "yuyv", "yuv422_yuy2"])), 2 * int(rng.integers(1, 20)) + 1
        step, n = 2 * w, 2 * w * h
    step = max(step, 0)
    msg = Image(height=h, width=w, encoding=enc, is_bigendian=int(rng.integers(2)), step=step,
                data=rng.integers(0, 255, min(n, 30_000_000), dtype=np.uint8).tobytes())
    msg.header = header_for(int(rng.integers(0, 10_000)))
    return msg


def hostile_box(rng):
    values = [float(rng.choice(FLOATS)) if rng.random() < 0.6 else float(rng.uniform(-500, 900)) for _ in range(4)]
    return values


def hostile_parameter(rng, bad_yaml: Path, inf_yaml: Path) -> ParameterMsg:
    name = str(rng.choice(PARAM_NAMES))
    t = int(rng.choice([1, 2, 3, 4, 5, 6, 9, 0, 99, 255]))
    value = ParameterValue(type=t)
    if t == ParameterType.PARAMETER_BOOL:
        value.bool_value = bool(rng.integers(2))
    elif t == ParameterType.PARAMETER_INTEGER:
        value.integer_value = int(rng.choice([-1, 0, 3, 2**31, -2**63, 2**63 - 1]))
    elif t == ParameterType.PARAMETER_DOUBLE:
        value.double_value = float(rng.choice(FLOATS))
    elif t == ParameterType.PARAMETER_STRING:
        value.string_value = str(rng.choice(["x" * 5000, "/nonexistent/w.pt", str(bad_yaml), str(inf_yaml), "cuda:7",
                                             "mono16", "paper", "\u00e9\u00e9", "a/" * 3000]))
    elif t == ParameterType.PARAMETER_BYTE_ARRAY:
        value.byte_array_value = [bytes([3])] * 3
    return ParameterMsg(name=name, value=value)


def run_campaign(d: Driver, rng, tmp_path: Path) -> list:
    """Send CAMPAIGN_SIZE hostile inputs of every kind; return the service futures."""
    bad_yaml, inf_yaml = tmp_path / "bad.yaml", tmp_path / "inf.yaml"
    bad_yaml.write_text("n_samples: [1, 2\nlam: : :\n")
    inf_yaml.write_text("n_samples: .inf\nlam: .nan\n")
    futures = []
    for i in range(CAMPAIGN_SIZE):
        kind = rng.integers(8)
        if kind in (0, 1):
            d.image.publish(hostile_image(rng))
        elif kind == 2:
            payload = png_claiming(int(rng.integers(1, 2**31)), int(rng.integers(1, 2**31)))
            d.compressed.publish(CompressedImage(format="png", data=payload))
        elif kind == 3:
            x, y, w, h = hostile_box(rng)
            box = InitBox(x=x, y=y, width=w, height=h)
            box.header = header_for(int(rng.integers(0, 10_000)))
            d.init_box.publish(box)
        elif kind == 4:
            d.init_roi.publish(RegionOfInterest(**{k: int(rng.choice([0, 1, 5, 2**32 - 1, 400]))
                                                  for k in ("x_offset", "y_offset", "width", "height")}))
        elif kind == 5:
            x, y, w, h = hostile_box(rng)
            futures.append(d.initialize.call_async(Initialize.Request(box=InitBox(x=x, y=y, width=w, height=h))))
        elif kind == 6:
            for _ in range(int(rng.integers(1, 6))):  # reset storms
                futures.append(d.reset.call_async(Trigger.Request()))
        else:
            params = [hostile_parameter(rng, bad_yaml, inf_yaml) for _ in range(int(rng.integers(1, 4)))]
            futures.append(d.set_parameters.call_async(SetParameters.Request(parameters=params)))
        if i % 40 == 0:  # a burst of simultaneous calls
            futures += [d.initialize.call_async(Initialize.Request()) for _ in range(30)]
        time.sleep(0.003)
    return futures


def start_node_process(log_path: Path, weights: Path, overrides) -> subprocess.Popen:
    """The node as its own process with the shipped parameters file, ``weights``, the CPU
    and ``overrides`` (``name:=value``), logging unbuffered to ``log_path``."""
    cmd = node_command(ROOT / "config" / "tracker.yaml", [f"weights:={weights}", "device:=cpu", *overrides])
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, RCUTILS_LOGGING_BUFFERED_STREAM="0"))


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate ``proc``; kill it if it has not ended within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def good_parameters(weights: Path):
    """Back to the settings the real sequence is tracked with (the campaign changed some)."""
    def p(name, **kw):
        return ParameterMsg(name=name, value=ParameterValue(**kw))
    S, D, I = ParameterType.PARAMETER_STRING, ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_INTEGER
    return [p("weights", type=S, string_value=str(weights)), p("input_encoding", type=S, string_value=""), p("profile", type=S, string_value="fast"),
            p("tracker_config", type=S, string_value=""), p("lam", type=D, double_value=-1.0),
            p("score_threshold", type=D, double_value=0.0), p("lost_after", type=I, integer_value=5),
            p("seed", type=I, integer_value=0), p("device", type=S, string_value="cpu"),
            p("max_image_pixels", type=I, integer_value=3840 * 2160),
            p("init_stamp_tolerance", type=D, double_value=0.05)]


def track(d: Driver, seq, frames, offset: int):
    """Initialise on frame 0 and play the rest in lockstep; the IoU of each result."""
    first = header_for(offset)
    publish_until(d.image, rgb_to_image(frames[0], first), lambda: d.results_for(first), 20,
                  "the first frame's result")
    future = d.initialize.call_async(Initialize.Request(box=InitBox(
        header=first, x=float(seq.groundtruth[0][0]), y=float(seq.groundtruth[0][1]),
        width=float(seq.groundtruth[0][2]), height=float(seq.groundtruth[0][3]))))
    wait_for(future.done, 10, "initialize answered")
    assert future.result().success, future.result().reason
    ious = []
    for i in range(1, len(frames)):
        header = header_for(offset + i)
        publish_until(d.image, rgb_to_image(frames[i], header),
                      lambda: any(m.state != TrackedObject.STATE_IDLE for m in d.results_for(header)), 30,
                      f"frame {i}'s result")
        m = [m for m in d.results_for(header) if m.state != TrackedObject.STATE_IDLE][0]
        ious.append(iou([m.x, m.y, m.width, m.height], seq.groundtruth[i])[0])
    return ious


def wait_for_answers(futures: list, what: str, stall: float = 10.0) -> None:
    """Every call answered, with no ``stall`` seconds in which none was: the node serves
    its calls one after another, so the total time grows with the machine's slowness (a
    fixed total of 10 s + 50 ms a call timed out once in a local run), while a node that
    stopped answering stalls."""
    def answered() -> int:
        return sum(f.done() for f in futures)

    while (done := answered()) < len(futures):
        wait_for(lambda: answered() > done, stall,
                 f"{what}: a further answer ({len(futures) - done} of {len(futures)} service calls unanswered)")


def campaign_then_track(d: Driver, proc: subprocess.Popen, log_path: Path, seed: int, weights: Path, seq, frames,
                        offset: int):
    """One seeded campaign, every service call answered, the node alive, the tracking
    parameters restored; then the real sequence: the IoU of each frame."""
    futures = run_campaign(d, np.random.default_rng(seed), log_path.parent)
    wait_for_answers(futures, f"campaign seed {seed}")
    assert proc.poll() is None, log_path.read_text()[-3000:]
    restore = d.set_parameters.call_async(SetParameters.Request(parameters=good_parameters(weights)))
    wait_for(restore.done, 10, "parameters restored")
    assert all(r.successful for r in restore.result().results), restore.result().results
    return len(futures), track(d, seq, frames, offset=offset)


@needs_shared(SEQUENCES / "Crossing")
@needs_shared(MOBILENET_TFJS)
def test_the_node_process_survives_a_hostile_campaign_and_still_tracks(tmp_path):
    """Two campaigns. The second (seed + 2) once left the node tracking with a setting it
    had changed during a tracker build (score_threshold 1.0: IoU 0.20 against 0.76), and
    the pair tells a leak from memory kept: the first campaign, with its 25 MB 4K frames,
    raises resident memory once (38-110 MB measured, 24 MB of it shared memory) and three
    more campaigns after it moved it by -10 to +21 MB each; a leak goes on growing."""
    seq = load_otb(SEQUENCES / "Crossing")
    frames = [f for _, f in zip(range(20), seq)]
    weights = import_weights(MOBILENET_TFJS)
    log_path = tmp_path / "node.log"
    proc = start_node_process(log_path, weights, ["profile:=fast", "diagnostics_period:=0.5"])
    d = Driver()
    try:
        assert d.initialize.wait_for_service(timeout_sec=60), log_path.read_text()
        wait_for(lambda: d.image.get_subscription_count() > 0 and d.node.count_publishers("tracked_object") > 0,
                 30, "discovery both ways")
        track(d, seq, frames, offset=0)  # warm-up: the level "before" is that of a node at work
        before_ious = track(d, seq, frames, offset=10_000)
        rss = [rss_mb(proc.pid)]
        for k, seed in enumerate((CAMPAIGN_SEED, CAMPAIGN_SEED + 2)):
            calls, ious = campaign_then_track(d, proc, log_path, seed, weights, seq, frames, 20_000 + 10_000 * k)
            rss.append(rss_mb(proc.pid))
            print(f"campaign seed {seed}: {CAMPAIGN_SIZE} inputs, {calls} service calls all answered; "
                  f"RSS {rss[-2]:.0f} MB before, {rss[-1]:.0f} MB after (shared memory "
                  f"{rss_mb(proc.pid, 'RssShmem'):.0f} MB); IoU before {np.mean(before_ious):.3f}, "
                  f"after {np.mean(ious):.3f}")
            assert np.mean(ious) > NODE_REAL_MIN_IOU, (seed, np.round(ious, 2))
            assert np.mean(ious) > np.mean(before_ious) - 0.1, (seed, np.round(ious, 2), np.round(before_ious, 2))
        assert rss[1] - rss[0] < FIRST_CAMPAIGN_MB, rss
        assert rss[2] - rss[1] < MEMORY_SLACK_MB, rss
    finally:
        d.close()
        stop_process(proc)
    text = log_path.read_text()
    assert "Traceback" not in text, text[text.index("Traceback") - 500:][:4000]
    assert "callback failed" not in text, text
