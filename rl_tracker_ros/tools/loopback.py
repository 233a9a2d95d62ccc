"""Keep DDS traffic on this host: the environment our tests, demo and benchmarks run in.

Fast DDS otherwise sends multicast discovery out of the network card. A Fast DDS profile
confines it (NOTES.md section 5, config/fastdds_loopback.xml): only shared memory and
UDPv4 on 127.0.0.1, discovery and data locators on 127.0.0.1, announcements to
127.0.0.1 only, so every socket the process opens is bound to loopback. The discovery
range is left to that profile (SYSTEM_DEFAULT): with LOCALHOST the RMW opened sockets
of its own on 0.0.0.0 and on the host's address besides. A ROS_DOMAIN_ID of our own
keeps parallel runs apart. They must be in the environment before the first
rclpy.init() of the process.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Optional

PROFILE_NAME = "fastdds_loopback.xml"


def profile_path() -> Path:
    """The loopback Fast DDS profile: from the source tree, else from the installed share dir."""
    here = Path(__file__).resolve().parent
    candidates = [here.parents[1] / "config" / PROFILE_NAME,
                  Path(sys.prefix) / "share" / "rl_tracker_ros" / "config" / PROFILE_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{PROFILE_NAME} not found in {[str(c) for c in candidates]}")


def loopback_env(domain_id: Optional[int] = None) -> Dict[str, str]:
    """Environment variables that confine ROS 2 / Fast DDS to loopback.

    ``domain_id`` defaults to one derived from the process id (1..100), so two test runs
    on one machine do not discover each other.
    """
    if domain_id is None:
        domain_id = 1 + os.getpid() % 100
    return {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SYSTEM_DEFAULT",
        "ROS_STATIC_PEERS": "",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(profile_path()),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "ROS_DOMAIN_ID": str(domain_id),
    }


def apply_loopback_env(domain_id: Optional[int] = None) -> Dict[str, str]:
    """Set :func:`loopback_env` in ``os.environ`` (before rclpy.init) and return it."""
    env = loopback_env(domain_id)
    os.environ.update(env)
    return env
