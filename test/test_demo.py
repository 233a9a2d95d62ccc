"""The demo's sources (photo scene, rosbag2) and the demo end to end through the node process."""
import json

import cv2
import numpy as np
import pytest

from ros_harness import header_for  # noqa: F401 (loopback environment first)
from rl_tracker_ros.ros.bags import bag_images
from rl_tracker_ros.tools.demo import open_source, parse_args, play
from rl_tracker_ros.media.scene import PhotoScene


def test_photo_scene_is_deterministic_and_its_ground_truth_is_where_the_target_is():
    a, b = PhotoScene(40), PhotoScene(40)
    assert np.array_equal(a.frame(7), b.frame(7)) and a.frame(7).shape == (480, 640, 3)
    gt = a.groundtruth
    assert gt.shape == (40, 4) and np.all(gt[:, 0] >= 0) and np.all(gt[:, :2] + gt[:, 2:] <= [640, 480])
    assert np.abs(np.diff(gt[:, :2], axis=0)).max() > 3  # it moves
    # The target photo is found at the ground-truth box (template matching on frame 0).
    x, y, w, h = np.round(gt[0]).astype(int)
    template = cv2.resize(a.target, (w, h))
    match = cv2.matchTemplate(a.frame(0), template, cv2.TM_CCOEFF_NORMED)
    assert np.unravel_index(match.argmax(), match.shape) == pytest.approx((y, x), abs=2)


def write_bag(path, frames, topics=("/cam/image_raw",)):
    """A rosbag2 (sqlite3) with ``frames`` as bgr8 Images with padded rows on each topic."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    Image, Header, Time = ts.types["sensor_msgs/msg/Image"], ts.types["std_msgs/msg/Header"], \
        ts.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=9) as writer:
        for topic in topics:
            conn = writer.add_connection(topic, Image.__msgtype__, typestore=ts)
            for i, rgb in enumerate(frames):
                h, w = rgb.shape[:2]
                rows = np.concatenate([rgb[..., ::-1].reshape(h, -1), np.zeros((h, 4), np.uint8)], axis=1)
                msg = Image(header=Header(stamp=Time(sec=50 + i, nanosec=250), frame_id="cam"), height=h, width=w,
                            encoding="bgr8", is_bigendian=0, step=w * 3 + 4, data=rows.reshape(-1))
                writer.write(conn, (50 + i) * 10**9, ts.serialize_cdr(msg, Image.__msgtype__))


def test_rosbag2_source(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 255, (20, 30, 3), dtype=np.uint8) for i in range(3)]
    write_bag(tmp_path / "bag", frames, topics=("/cam/image_raw", "/other/image"))
    with pytest.raises(ValueError, match="/other/image"):
        list(bag_images(tmp_path / "bag"))
    src = open_source(str(tmp_path / "bag"), 0, topic="/cam/image_raw")
    got = list(src.frames)
    assert len(got) == 3 and src.groundtruth is None
    for (rgb, stamp), want, i in zip(got, frames, range(3)):
        assert np.array_equal(rgb, want) and stamp == (50 + i) * 10**9 + 250


def tiny_config(tmp_path):
    """A tracker config with a random trunk and tiny settings: the node answers fast."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("allow_random_backbone: true\nn_pos_init: 50\nn_neg_init: 200\niters_init: 3\nn_bbreg: 50\n"
                   "n_samples: 32\nbatch_neg_cand: 64\niters_update: 1\nn_pos_update: 10\nn_neg_update: 20\n")
    return cfg


def test_demo_end_to_end_through_the_node_process(tmp_path):
    """The whole demo path with a random trunk and tiny settings (fast); accuracy is
    checked with real weights in test_node.py."""
    cfg = tiny_config(tmp_path)
    out = tmp_path / "out"
    args = parse_args(["scene", "--frames", "5", "--out", str(out), "-p", f"tracker_config:={cfg}",
                       "-p", "lam:=0.0", "-p", "device:=cpu", "--timeout", "120"])
    summary = play(args)
    assert summary["frames_sent"] == 5 and summary["frames_tracked"] == 5
    assert json.loads((out / "summary.json").read_text()) == summary
    assert {"auc", "precision20", "mean_iou", "latency_s_median", "init_time_s"} <= set(summary)
    assert len((out / "scene_boxes.txt").read_text().splitlines()) == 5
    cap = cv2.VideoCapture(str(out / "scene.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640


def test_demo_on_a_lossy_link_never_publishes_the_lost_frames(tmp_path):
    """``--drop``: the frames the link loses (FrameLoss, as ``rl-tracker eval --drop``
    draws them) never reach the node, so none of them has a result of its own; every frame
    is still scored with the box a consumer had. Lockstep cannot lose frames."""
    from rl_tracker_ros.evaluation.realtime import FrameLoss

    with pytest.raises(SystemExit, match="--rate"):
        play(parse_args(["scene", "--drop", "0.2", "--out", str(tmp_path / "x")]))
    cfg = tiny_config(tmp_path)
    out = tmp_path / "out"
    args = parse_args(["scene", "--frames", "16", "--rate", "5", "--drop", "0.3", "--drop-burst", "2",
                       "--no-video", "--out", str(out), "-p", f"tracker_config:={cfg}", "-p", "lam:=0.0",
                       "-p", "device:=cpu", "-p", "warm_up:=false", "--timeout", "120"])
    summary = play(args)
    loss = FrameLoss(0.3, 2, 0)
    lost = [i for i in range(16) if loss.lost(i)]
    assert lost and summary["frames_lost_on_link"] == len(lost) and summary["frames_sent"] == 16
    own = json.loads((out / "summary.json").read_text())["tracked_frames_own_result"]["frames"]
    assert own <= 16 - len(lost)
    assert len((out / "scene_boxes.txt").read_text().splitlines()) == 16  # every frame scored


def test_live_scoring_credits_each_frame_with_what_a_consumer_had():
    """Frames published at 0, 1, 2, 3 s (then the end at 4 s); results arrive late:
    frame 0's at 1.5 s, frame 1's at 1.6 s and frame 3's at 3.0 s exactly."""
    import threading
    from types import SimpleNamespace

    from rl_tracker_ros.tools.demo import live_boxes, own_results

    def msg(x, stamp):
        return SimpleNamespace(x=x, y=0.0, width=5.0, height=5.0, state=1, stamp=stamp)

    rec = SimpleNamespace(lock=threading.Lock(), arrivals=[(1.5, msg(10, 0)), (1.6, msg(11, 1)), (3.0, msg(13, 3))],
                          results={0: [msg(10, 0)], 1: [msg(11, 1)], 3: [msg(13, 3)]})
    boxes = live_boxes(rec, [0.0, 1.0, 2.0, 3.0], 4.0, np.array([99.0, 0, 5, 5]))
    # frame 0: by 1.0 s nothing had arrived -> the init box; frame 1: by 2.0 s, frame 1's
    # result; frame 2: by 3.0 s, frame 3's result (a result at the deadline counts); frame 3: same.
    assert boxes[:, 0].tolist() == [99, 11, 13, 13]
    idx, own = own_results(rec, [0, 1, 2, 3])
    assert idx.tolist() == [0, 1, 3] and own[:, 0].tolist() == [10, 11, 13]
