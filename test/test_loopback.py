"""The loopback environment binds every DDS socket to 127.0.0.1 (NOTES.md section 5)."""
import os
import socket
import struct
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import os, socket, struct, time
    from rl_tracker_ros.tools.loopback import apply_loopback_env
    apply_loopback_env()
    import rclpy
    from std_msgs.msg import String
    rclpy.init()
    node = rclpy.create_node("socket_probe")
    node.create_publisher(String, "chatter", 10)
    node.create_subscription(String, "chatter", lambda m: None, 10)
    time.sleep(1.0)
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                print(table.rsplit("/", 1)[1], fields[1])
    node.destroy_node()
    rclpy.shutdown()
""")


def test_every_udp_socket_of_a_node_is_bound_to_loopback():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith(("udp ", "udp6"))]
    assert rows, "the probe node opened no UDP socket: nothing was checked"
    for table, local in rows:
        assert table == "udp", f"an IPv6 UDP socket is open: {local}"
        address = socket.inet_ntoa(struct.pack("<I", int(local.split(":")[0], 16)))
        assert address == "127.0.0.1", f"a UDP socket is bound to {address}"
