"""Structural rules: the tracker core has no ROS dependency."""
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "rl_tracker_ros"
ROS = re.compile(r"^\s*(import|from)\s+(rclpy|rosidl|sensor_msgs|std_msgs|geometry_msgs|cv_bridge|builtin_interfaces)\b",
                 re.M)


def test_core_and_offline_tools_import_no_ros():
    offenders = []
    for folder in ("core", "evaluation"):
        for f in (PKG / folder).rglob("*.py"):
            if ROS.search(f.read_text()):
                offenders.append(str(f))
    for f in ("runner.py", "sequences.py", "visualize.py", "cli.py"):
        if ROS.search((PKG / f).read_text()):
            offenders.append(f)
    assert not offenders
