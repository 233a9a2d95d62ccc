"""Start the DAT tracker node: `ros2 launch rl_tracker_ros tracker.launch.py [ARG:=VALUE ...]`.

Arguments (also listed by `ros2 launch rl_tracker_ros tracker.launch.py --show-args`):
  namespace     namespace of the node and its relative topics (default: none)
  params_file   parameters file (default: the package's config/tracker.yaml)
  image_topic   camera topic, remapped onto the node's `image` (default: image);
                with use_compressed the node reads `<image_topic>/compressed`
  device        auto, cpu, cuda or cuda:N (default: auto); overrides params_file
  profile       auto (paper on a CUDA device, fast otherwise), paper (DAT as published)
                or fast (real time on a CPU) (default: auto); overrides params_file
  autostart     true: the managed node configures and activates itself; false: it waits,
                unconfigured, for a lifecycle manager or `ros2 lifecycle set` (default:
                true); overrides params_file
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

PACKAGE = "rl_tracker_ros"
EXECUTABLE = "tracker_node"
NODE_NAME = "rl_tracker"


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "tracker.yaml"]),
                              description="parameters file of the node"),
        DeclareLaunchArgument("image_topic", default_value="image",
                              description="camera image topic (remapped onto the node's 'image')"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("profile", default_value="auto",
                              description="tracker settings: auto (paper on a CUDA device, fast otherwise), "
                                          "paper (DAT as published) or fast (real time on a CPU)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure and activate at start-up (false: wait for a lifecycle manager)"),
    ]
    image = LaunchConfiguration("image_topic")
    node = LifecycleNode(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"device": LaunchConfiguration("device"),
                                                       "profile": LaunchConfiguration("profile"),
                                                       "autostart": LaunchConfiguration("autostart")}],
        remappings=[("image", image), ("image/compressed", [image, "/compressed"])],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription(args + [node])
