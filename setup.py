from setuptools import find_packages, setup

package_name = "rl_tracker_ros"

setup(
    name=package_name,
    version="0.1.0",
    description="DAT (reciprocative learning) single-object tracker for ROS 2 and offline video",
    packages=find_packages(include=["rl_tracker_ros", "rl_tracker_ros.*"]),
    package_data={"rl_tracker_ros.core": ["weights_registry.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/config", ["config/tracker_paper.yaml", "config/tracker.yaml",
                                          "config/fastdds_loopback.xml"]),
        (f"share/{package_name}/launch", ["launch/tracker.launch.py"]),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "opencv-python-headless", "scipy", "pyyaml", "tqdm", "platformdirs", "pillow"],
    extras_require={
        "test": ["pytest", "hypothesis", "rosbags", "ray"],
        # rl-tracker eval --ray ADDRESS: sequences as Ray tasks on a cluster.
        "ray": ["ray"],
        # OpenCV's CSRT/KCF live in the contrib build, which replaces the base cv2 module:
        # uninstall opencv-python-headless first (scripts/setup_venv.sh does this).
        "eval": ["opencv-contrib-python-headless", "matplotlib"],
        # rl-tracker-demo: real photographs for the synthetic scene; rosbag2 input.
        "demo": ["scikit-image", "rosbags"],
    },
    # ROS 2 itself (rclpy, sensor_msgs ...) comes from a ROS install or the ros-* wheels
    # (scripts/setup_venv.sh); the messages from colcon or scripts/build_interfaces.sh.
    entry_points={"console_scripts": ["rl-tracker = rl_tracker_ros.tools.cli:main",
                                      "tracker_node = rl_tracker_ros.ros.node:main",
                                      "rl-tracker-demo = rl_tracker_ros.tools.demo:main"]},
    license="MIT",
    zip_safe=False,
)
