"""``rl-tracker-demo``: play a camera into the real tracker node and record what comes out.

The node runs as its own process (``python -m rl_tracker_ros.ros.node`` with the parameters
file), exactly as ``ros2 run`` starts it; this process plays the camera on ``image``,
starts tracking through the ``~/initialize`` service with the first frame's stamp, and
records ``tracked_object``. It writes, as it goes, the annotated video (each camera
frame with the newest result a consumer had: box in its state's colour, score, state;
ground truth in white), then the boxes and a summary (accuracy against ground truth when
the source has it, states, latency, processing rate, drops).

Sources: ``scene`` (real photographs shipped with scikit-image, exact ground truth; no
network, no dataset), an OTB/VOT folder, a video file, an image glob, or a rosbag2 folder.
``--rate 0`` (default) waits for each result before the next frame, so every frame is
tracked; ``--rate HZ`` plays like a live camera and the node drops what it cannot keep up
with. All DDS traffic stays on loopback (rl_tracker_ros.tools.loopback).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ..ros.conversions import stamp_ns
from .loopback import apply_loopback_env

ROOT = Path(__file__).resolve().parents[2]  # the source tree
STATE_NAMES = {0: "IDLE", 1: "TRACKING", 2: "UNCERTAIN", 3: "LOST"}  # TrackedObject.STATE_*


@dataclass
class Source:
    name: str
    frames: Iterator[Tuple[np.ndarray, int]]  # (RGB frame, stamp ns)
    groundtruth: Optional[np.ndarray]
    count: int


def open_source(spec: str, max_frames: int, topic: Optional[str] = None, fps: float = 30.0) -> Source:
    """The camera to play: ``scene``, a rosbag2 folder, or what ``rl-tracker run`` reads."""
    from ..ros.bags import bag_images, is_bag
    from ..media.scene import PhotoScene
    from ..media.sequences import open_input

    def stamped(frames) -> Iterator[Tuple[np.ndarray, int]]:
        for i, f in enumerate(frames):
            yield f, int(1e9 * (1.0 + i / fps))

    if spec == "scene":
        scene = PhotoScene(max_frames or 120)
        return Source("scene", stamped(scene), scene.groundtruth, len(scene))
    if is_bag(spec):
        frames = ((rgb, stamp) for rgb, stamp, _ in bag_images(spec, topic))
        return Source(Path(spec).name, _take(frames, max_frames), None, max_frames or 0)
    seq = open_input(spec)
    n = min(len(seq), max_frames) if max_frames else len(seq)
    gt = seq.groundtruth[:n] if seq.groundtruth is not None else None
    return Source(seq.name, _take(stamped(iter(seq)), n), gt, n)


def _take(it, n: Optional[int]):
    for i, item in enumerate(it):
        if n and i >= n:
            return
        yield item


def node_command(params_file: Path, overrides: List[str]) -> List[str]:
    cmd = [sys.executable, "-m", "rl_tracker_ros.ros.node", "--ros-args", "--params-file", str(params_file)]
    for o in overrides:
        cmd += ["-p", o]
    return cmd


class Recorder:
    """The camera and the observer: publishes frames, keeps every output by stamp."""

    def __init__(self, context):
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        from ..msg import TrackedObject
        from ..srv import Initialize

        self.node = Node("camera_player", context=context)
        self.image_pub = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.results = {}
        self.latest = None        # the newest non-IDLE result to arrive
        self.arrival = {}         # stamp -> arrival of its first result
        self.tracking_since = {}  # stamp -> arrival of its first non-IDLE result
        self.arrivals = []        # (arrival, msg) of every non-IDLE result, in arrival order
        self.lock = threading.Lock()
        self.node.create_subscription(TrackedObject, "tracked_object", self._on_result, 100)
        self.init_client = self.node.create_client(Initialize, "rl_tracker/initialize")

    def _on_result(self, msg) -> None:
        key = stamp_ns(msg.header.stamp)
        with self.lock:
            self.results.setdefault(key, []).append(msg)
            self.arrival.setdefault(key, time.monotonic())
            if msg.state != 0:
                now = time.monotonic()
                self.tracking_since.setdefault(key, now)
                self.arrivals.append((now, msg))
                self.latest = msg

    def publish(self, rgb: np.ndarray, stamp: int):
        """Publish ``rgb`` as an rgb8 camera frame stamped ``stamp`` ns; returns its header."""
        from std_msgs.msg import Header

        from ..ros.conversions import rgb_to_image

        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        self.image_pub.publish(rgb_to_image(rgb, header))
        return header

    def request_init(self, box, header):
        """Call the node's ~/initialize with ``box`` drawn on the frame of ``header``; a future."""
        from ..msg import InitBox
        from ..srv import Initialize

        x, y, w, h = (float(v) for v in box)
        return self.init_client.call_async(Initialize.Request(box=InitBox(header=header, x=x, y=y, width=w,
                                                                          height=h)))

    def has(self, stamp: int, tracking: bool = False) -> bool:
        with self.lock:
            msgs = self.results.get(stamp, [])
        return any(m.state != 0 for m in msgs) if tracking else bool(msgs)


@contextmanager
def node_session(params_file: Path, overrides: List[str], log_path: Optional[Path] = None,
                 domain_id: Optional[int] = None) -> Iterator[Recorder]:
    """Start the node process on loopback-only DDS and a :class:`Recorder` beside it;
    yields once the node serves, stops both afterwards."""
    env = apply_loopback_env(domain_id)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(node_command(params_file, overrides), stdout=log, stderr=subprocess.STDOUT)
    print(f"node started (pid {proc.pid}, ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}, loopback only)"
          + (f"; log: {log_path}" if log_path else ""), flush=True)
    context = rclpy.Context()
    rclpy.init(context=context, args=[sys.argv[0]])  # our own -p options are not for this node
    rec = Recorder(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(rec.node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        if not rec.init_client.wait_for_service(timeout_sec=60):
            raise RuntimeError(f"the node did not come up; see {log_path or 'its output'}")
        # Discovery runs both ways: the node must see our camera and we its results.
        _wait(lambda: rec.image_pub.get_subscription_count() > 0
              and rec.node.count_publishers("tracked_object") > 0, 30)
        yield rec
    finally:
        executor.shutdown(timeout_sec=10)
        spinner.join(timeout=10)  # before the context goes, or its last wait set raises
        rec.node.destroy_node()
        rclpy.try_shutdown(context=context)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def play(args) -> dict:
    """Run the whole demo; returns the summary (also written to ``out/summary.json``)."""
    from ..evaluation.runner import VideoSink

    source = open_source(args.source, args.frames, args.topic)
    if args.box is None and source.groundtruth is None:
        raise SystemExit(f"{args.source} has no ground truth: give the first box with --box x,y,w,h")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sink = VideoSink(out / f"{source.name}.mp4", fps=30.0) if args.video else None
    try:
        summary = _play(args, source, sink, out)
    finally:
        if sink is not None:
            sink.close()
    return summary


def _play(args, source: Source, sink, out: Path) -> dict:
    sent: List[int] = []
    published: List[float] = []  # when each frame was first published (monotonic s)
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    loss = camera_link(args)
    with node_session(Path(args.params_file), list(args.param or []), out / "node.log", args.domain_id) as rec:
        t_init = None
        next_time = time.monotonic()
        for i, (rgb, stamp) in enumerate(source.frames):
            if loss is None or not loss.lost(i):  # a lost frame never reaches the node
                header = rec.publish(rgb, stamp)
            sent.append(stamp)
            published.append(time.monotonic())
            if i == 0:
                # On a loaded machine discovery may still be settling and the first frame
                # (best effort, as cameras publish) can be lost: send it again until answered.
                deadline = time.monotonic() + 60
                while not _wait(lambda: rec.has(stamp), 5):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the node did not answer the first frame")
                    header = rec.publish(rgb, stamp)
                t_init = time.monotonic()
                future = rec.request_init(args.box if args.box is not None else source.groundtruth[0], header)
                _wait(future.done, 30)
                resp = future.result()
                if resp is None or not resp.success:
                    raise RuntimeError(f"initialisation refused: {resp.reason if resp else 'no reply'}")
                print(f"init: {resp.reason}")
                if period == 0 and not _wait(lambda: rec.has(stamp, tracking=True), args.timeout):
                    raise RuntimeError("no result for the init frame")
                next_time = time.monotonic()
                show(sink, rec, rgb, source, i)
                continue
            if period == 0:
                if not _wait(lambda: rec.has(stamp), args.timeout):
                    raise RuntimeError(f"no result for frame {i} within {args.timeout} s")
            else:
                next_time += period
                time.sleep(max(0.0, next_time - time.monotonic()))
            show(sink, rec, rgb, source, i)
            if i % 10 == 0:
                print(f"frame {i}: {len(rec.results)} results so far", flush=True)
        # The last frame's consumer deadline: when the next frame would have come (live), or
        # once its result is in (lockstep).
        end = published[-1] + period if period > 0 else None
        _wait(lambda: rec.has(sent[-1]), args.timeout if period == 0 else max(0.0, end - time.monotonic()))
        end = end if end is not None else time.monotonic()
        time.sleep(0.5)
        init_box = np.asarray(args.box if args.box is not None else source.groundtruth[0], dtype=np.float64)
        boxes = live_boxes(rec, published, end, init_box)
        summary = summarise(rec, sent, boxes, source, t_init, args)
        if loss is not None:
            summary["frames_lost_on_link"] = loss.count(len(sent))
            summary["mode"] += f", {args.drop:g} of frames start a burst of {args.drop_burst} lost on the link"
        write_outputs(boxes, source, summary, out)
    return summary


def camera_link(args):
    """The frames a lossy camera link loses (``--drop``), as the evaluation's ``FrameLoss``
    draws them (frame 0, the init frame, always arrives); None for a perfect link."""
    from ..evaluation.realtime import FrameLoss

    if args.drop <= 0:
        return None
    if args.rate <= 0:
        raise SystemExit("--drop needs a live camera (--rate > 0): in lockstep every frame waits for its result")
    return FrameLoss(args.drop, args.drop_burst, args.drop_seed)


def show(sink, rec: Recorder, rgb: np.ndarray, source: Source, i: int) -> None:
    """Append frame ``i`` with the newest result (and its ground truth) to the video."""
    if sink is None:
        return
    from ..media.drawing import draw_result

    m = rec.latest
    gt = source.groundtruth[i] if source.groundtruth is not None and i < len(source.groundtruth) else None
    sink.write(draw_result(rgb, None if m is None else (m.x, m.y, m.width, m.height),
                           0.0 if m is None else m.score, STATE_NAMES[0 if m is None else m.state].lower(), gt=gt))


def live_boxes(rec: Recorder, published: List[float], end: float, init_box: np.ndarray) -> np.ndarray:
    """For every frame sent, the box a consumer had just before the next frame was
    published (``end`` for the last): the newest tracked_object to have arrived by then,
    whatever frame it was for; the init box before the first. The rule of the harness's
    real-time protocol (evaluation/realtime.py), on the arrival times of the messages."""
    from ..evaluation.realtime import newest_before

    with rec.lock:
        arrivals = list(rec.arrivals)
    return newest_before([t for t, _ in arrivals], [[m.x, m.y, m.width, m.height] for _, m in arrivals],
                         list(published[1:]) + [end], init_box)


def own_results(rec: Recorder, sent: List[int]) -> Tuple[np.ndarray, np.ndarray]:
    """The frames that got a result of their own, and that result's box (however late it came)."""
    tracked, boxes = [], []
    for i, stamp in enumerate(sent):
        msgs = [m for m in rec.results.get(stamp, []) if m.state != 0]
        if msgs:
            tracked.append(i)
            boxes.append([msgs[-1].x, msgs[-1].y, msgs[-1].width, msgs[-1].height])
    return np.array(tracked, dtype=int), np.array(boxes, dtype=np.float64).reshape(-1, 4)


def _scores(boxes: np.ndarray, gt: np.ndarray) -> dict:
    from ..core.boxes import iou
    from ..evaluation.metrics import evaluate

    s = evaluate(boxes, gt)
    return {"auc": round(s.auc, 3), "precision20": round(s.precision20, 3),
            "mean_iou": round(float(np.mean(iou(boxes, gt))), 3) if len(gt) else None}


def summarise(rec: Recorder, sent: List[int], boxes: np.ndarray, source: Source, t_init: Optional[float],
              args) -> dict:
    tracked = [rec.results[s][-1] for s in sent if s in rec.results and rec.results[s][-1].state != 0]
    first_tracking = rec.tracking_since.get(sent[0]) if sent else None
    summary = {
        "source": source.name, "frames_sent": len(sent), "frames_tracked": len(tracked),
        "mode": "lockstep (every frame tracked)" if args.rate == 0 else f"live camera at {args.rate} Hz",
        "params": list(args.param or []),
        "init_time_s": round(first_tracking - t_init, 2) if (first_tracking and t_init) else None,
        "states": {STATE_NAMES[k]: sum(m.state == k for m in tracked) for k in STATE_NAMES if k},
        "latency_s_median": _q([m.latency for m in tracked[1:]], 50),
        "latency_s_p90": _q([m.latency for m in tracked[1:]], 90),
        "processing_time_s_median": _q([m.processing_time for m in tracked[1:]], 50),
        "processing_rate_hz_last": round(float(tracked[-1].processing_rate), 3) if tracked else None,
        "frames_dropped": int(tracked[-1].frames_dropped) if tracked else None,
    }
    if source.groundtruth is not None and len(tracked) > 1:
        gt = source.groundtruth[: len(sent)]
        # What a consumer had: every frame scored with the newest box it had before the
        # next frame was published (before the first result: the init box).
        summary.update(_scores(boxes, gt))
        summary["scoring"] = ("every frame sent, scored with the newest tracked_object that had arrived "
                              "before the next frame was published (the init box before the first)")
        idx, own = own_results(rec, sent)
        summary["tracked_frames_own_result"] = {
            "frames": int(len(idx)), **_scores(own, gt[idx]),
            "scoring": "only the frames that got a result of their own, each scored with that result "
                       "however late it arrived (optimistic: not what a consumer had)"}
    return summary


def _q(values, q) -> Optional[float]:
    return round(float(np.percentile(values, q)), 4) if len(values) else None


def write_outputs(boxes: np.ndarray, source: Source, summary: dict, out: Path) -> None:
    from ..evaluation.runner import write_boxes

    write_boxes(out / f"{source.name}_boxes.txt", boxes)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="rl-tracker-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("source", nargs="?", default="scene",
                   help="scene (default), an OTB/VOT folder, a video file, an image glob or a rosbag2 folder")
    p.add_argument("--frames", type=int, default=60, help="frames to play (default 60; 0: all)")
    p.add_argument("--box", type=lambda s: [float(v) for v in s.split(",")],
                   help="x,y,w,h of the target in the first frame (default: the ground truth)")
    p.add_argument("--topic", help="image topic of a rosbag2 with several")
    p.add_argument("--rate", type=float, default=0.0, help="camera rate in Hz; 0 (default): lockstep")
    p.add_argument("--drop", type=float, default=0.0,
                   help="live only: a lossy camera link, each frame starts a burst of lost frames with this "
                        "probability (never published; scored with the box a consumer had), as rl-tracker eval --drop")
    p.add_argument("--drop-burst", type=int, default=1, help="frames lost in each burst (default 1)")
    p.add_argument("--drop-seed", type=int, default=0, help="which frames are lost (default 0)")
    p.add_argument("--params-file", default=str(ROOT / "config" / "tracker.yaml"))
    p.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE",
                   help="node parameter override, e.g. -p lam:=0.0 (repeatable)")
    p.add_argument("--out", default="demo_out/node")
    p.add_argument("--no-video", dest="video", action="store_false")
    p.add_argument("--timeout", type=float, default=900.0, help="s to wait for one result (init included)")
    p.add_argument("--domain-id", type=int, default=None)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    summary = play(args)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/summary.json, the boxes and the annotated video")


if __name__ == "__main__":
    main()
