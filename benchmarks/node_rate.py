"""Message rate and latency through the node, for a live 640x480 camera at 30 Hz.

    .venv/bin/python benchmarks/node_rate.py --idle-seconds 10 --seconds 60 [-p lam:=0.0 ...]

Starts the node process (config/tracker.yaml plus -p overrides) on loopback-only DDS and
plays the photo scene (rl_tracker_ros.media.scene) in real time. Phase 1, before any init box:
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
import time
from pathlib import Path

import numpy as np

from rl_tracker_ros.tools.demo import ROOT, live_boxes, node_session


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

    import torch

    from rl_tracker_ros.core.boxes import iou
    from rl_tracker_ros.media.scene import PhotoScene

    total = args.idle_seconds + args.init_timeout + args.seconds
    scene = PhotoScene(int(total * args.rate) + 1)
    published = {}  # stamp -> (frame index, monotonic publish time)
    with node_session(Path(args.params_file), args.param) as rec:
        period, i, t0 = 1.0 / args.rate, 0, time.monotonic()
        idle_end = t0 + args.idle_seconds
        init_stamp, init_sent, init_done, reply = None, None, None, None
        while init_done is None or time.monotonic() < init_done + args.seconds:
            if init_sent is not None and init_done is None:
                if reply.done() and not reply.result().success:
                    raise RuntimeError(f"initialisation refused: {reply.result().reason}")
                init_done = rec.tracking_since.get(init_stamp)
                if init_done is None and time.monotonic() - init_sent > args.init_timeout:
                    raise RuntimeError("initialisation did not finish")
            stamp = int(1e9 * (1 + i / args.rate))
            header = rec.publish(scene.frame(i), stamp)
            published[stamp] = (i, time.monotonic())
            if init_sent is None and time.monotonic() >= idle_end:
                reply = rec.request_init(scene.groundtruth[i], header)
                init_stamp, init_sent = stamp, time.monotonic()
            i += 1
            time.sleep(max(0.0, t0 + i * period - time.monotonic()))
        time.sleep(1.0)

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
            # Each frame scored with the newest result that had arrived before the next frame
            # was published (the real-time rule); no result yet: an empty box.
            order = sorted(stamps)
            times = [published[s][1] for s in order]
            boxes = np.nan_to_num(live_boxes(rec, times, times[-1] + period, np.full(4, np.nan)))
            gt = scene.groundtruth[[published[s][0] for s in sorted(stamps)]]
            ious = iou(boxes, gt)
            out.update(mean_iou_live=round(float(ious.mean()), 3),
                       success50_live=round(float((ious > 0.5).mean()), 3),
                       frames_dropped=int(rec.results[got[-1]][-1].frames_dropped) if got else None,
                       processing_time_s_median=pct([rec.results[s][-1].processing_time for s in got], 50))
        return out

    report = {
        "machine": f"{cpu_model()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__, "camera": f"640x480 rgb8 at {args.rate} Hz", "params": args.param,
        "idle": phase(t0, idle_end, tracking=False),
        "init_time_s": round(init_done - init_sent, 2),
        "tracking": phase(init_done, init_done + args.seconds, tracking=True),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
