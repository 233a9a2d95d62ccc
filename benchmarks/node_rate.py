"""Message rate and latency through the node, for a live 640x480 camera at 30 Hz.

    .venv/bin/python benchmarks/node_rate.py --idle-seconds 10 --seconds 60 [-p lam:=0.0 ...]

Starts the node process (config/tracker.yaml plus -p overrides) on loopback-only DDS and
plays the photo scene (rl_tracker_ros.scene) in real time. Phase 1, before any init box:
the node converts and answers every frame with an IDLE result, which measures its
transport and conversion overhead. Then the init box goes in, stamped with the current
frame, while the camera keeps running; phase 2 measures tracking: results per second,
latency from publishing a frame to receiving its result, frames dropped, and the accuracy
a consumer gets from the newest result at each camera frame (a slow tracker is also an
inaccurate one). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from rl_tracker_ros.demo import ROOT, Recorder, node_command
from rl_tracker_ros.loopback import apply_loopback_env


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def pct(values, q):
    return round(float(np.percentile(values, q)), 4) if len(values) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="tracking phase, after the init result")
    ap.add_argument("--init-timeout", type=float, default=900.0)
    ap.add_argument("--params-file", default=str(ROOT / "config" / "tracker.yaml"))
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()

    apply_loopback_env()
    import rclpy
    import torch
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Header

    from rl_tracker_ros.conversions import rgb_to_image
    from rl_tracker_ros.core.boxes import iou
    from rl_tracker_ros.msg import InitBox
    from rl_tracker_ros.scene import PhotoScene
    from rl_tracker_ros.srv import Initialize

    total = args.idle_seconds + args.init_timeout + args.seconds
    scene = PhotoScene(int(total * args.rate) + 1)
    proc = subprocess.Popen(node_command(Path(args.params_file), args.param),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    rec = Recorder(ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(rec.node)
    threading.Thread(target=ex.spin, daemon=True).start()
    published = {}  # stamp -> (frame index, monotonic publish time)
    try:
        assert rec.init_client.wait_for_service(timeout_sec=60), "node did not start"
        while rec.image_pub.get_subscription_count() == 0:
            time.sleep(0.01)
        period, i, t0 = 1.0 / args.rate, 0, time.monotonic()
        phase_ends = {"idle": t0 + args.idle_seconds}
        init_stamp, init_sent, init_done = None, None, None
        while True:
            now = time.monotonic()
            if init_done is not None and now > init_done + args.seconds:
                break
            if init_sent is not None and init_done is None:
                if init_stamp in rec.tracking_since:
                    init_done = rec.tracking_since[init_stamp]
                elif now - init_sent > args.init_timeout:
                    raise RuntimeError("initialisation did not finish")
            stamp = int(1e9 * (1 + i / args.rate))
            header = Header(frame_id="camera")
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            rec.image_pub.publish(rgb_to_image(scene.frame(i), header))
            published[stamp] = (i, time.monotonic())
            if init_sent is None and now >= phase_ends["idle"]:
                req = Initialize.Request(box=InitBox(header=header))
                req.box.x, req.box.y, req.box.width, req.box.height = (float(v) for v in scene.groundtruth[i])
                rec.init_client.call_async(req)
                init_stamp, init_sent = stamp, time.monotonic()
            i += 1
            time.sleep(max(0.0, t0 + i * period - time.monotonic()))
        time.sleep(1.0)
    finally:
        ex.shutdown()
        rec.node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        proc.terminate()
        proc.wait(10)

    def phase(lo, hi, tracking):
        stamps = [s for s, (_, t) in published.items() if lo <= t < hi]
        got = [s for s in stamps if s in rec.results and any((m.state != 0) == tracking for m in rec.results[s])]
        lat = [rec.arrival[s] - published[s][1] for s in got]
        node_lat = [rec.results[s][-1].latency for s in got]
        out = {"frames_published": len(stamps), "results": len(got),
               "result_rate_hz": round(len(got) / (hi - lo), 3),
               "latency_s_median": pct(lat, 50), "latency_s_p90": pct(lat, 90),
               "node_latency_s_median": pct(node_lat, 50)}
        if tracking:
            boxes, last = [], None
            for s in sorted(stamps):
                res = [m for m in rec.results.get(s, []) if m.state != 0]
                last = res[-1] if res else last
                boxes.append([last.x, last.y, last.width, last.height] if last else [0, 0, 0, 0])
            gt = scene.groundtruth[[published[s][0] for s in sorted(stamps)]]
            ious = iou(np.array(boxes), gt)
            out.update(mean_iou_newest_result=round(float(ious.mean()), 3),
                       success50_newest_result=round(float((ious > 0.5).mean()), 3),
                       frames_dropped=int(rec.results[got[-1]][-1].frames_dropped) if got else None,
                       processing_time_s_median=pct([rec.results[s][-1].processing_time for s in got], 50))
        return out

    report = {
        "machine": f"{cpu_model()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__, "camera": f"640x480 rgb8 at {args.rate} Hz", "params": args.param,
        "idle": phase(t0, phase_ends["idle"], tracking=False),
        "init_time_s": round(init_done - init_sent, 2),
        "tracking": phase(init_done, init_done + args.seconds, tracking=True),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
