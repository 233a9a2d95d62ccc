"""Camera images from a rosbag2 (sqlite3 or mcap), read with rosbags: no ROS install needed."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

from .conversions import compressed_to_rgb, image_to_rgb

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def bag_images(path, topic: Optional[str] = None) -> Iterator[Tuple[np.ndarray, int, str]]:
    """Yield (RGB frame, header stamp in ns, frame_id) for each image on ``topic``.

    Without ``topic`` the bag must hold exactly one image topic. Raises ``ValueError``
    naming the image topics the bag has when the choice is missing or ambiguous.
    """
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    with AnyReader([Path(path)], default_typestore=get_typestore(Stores.LATEST)) as reader:
        images = [c for c in reader.connections if c.msgtype in IMAGE_TYPES]
        topics = sorted({c.topic for c in images})
        if topic is not None:
            images = [c for c in images if c.topic == topic]
        if not images or (topic is None and len(topics) > 1):
            raise ValueError(f"{path}: choose an image topic; the bag has {topics or 'no image topics'}")
        for conn, _, raw in reader.messages(connections=images):
            msg = reader.deserialize(raw, conn.msgtype)
            rgb = compressed_to_rgb(msg) if conn.msgtype.endswith("CompressedImage") else image_to_rgb(msg)
            stamp = msg.header.stamp
            yield rgb, int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec), msg.header.frame_id


def is_bag(path) -> bool:
    """A rosbag2 folder (with its metadata.yaml)."""
    p = Path(path)
    return p.is_dir() and (p / "metadata.yaml").exists()
