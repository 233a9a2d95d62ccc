"""The package's architecture, checked: each folder is one thing and nothing climbs back up.

    core/        the tracker (algorithm): imports nothing else of the package
    media/       what both sides read and draw (sequences, videos, the photo scene, drawing,
                 the rule for catching up on frames after the first)
    evaluation/  metrics, harness, reports, the offline runner: core and media only
    ros/         the node, its worker thread, frame buffer, message conversions, bags:
                 core, media and the generated msg/srv only
    tools/       entry points (command line, demo, loopback environment): anything

and only ros/ (and the generated msg/srv) imports ROS; its worker and frame buffer do not.
"""
import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rl_tracker_ros"
ROS = re.compile(r"^\s*(import|from)\s+(rclpy|rosidl\w*|rcl_interfaces|\w+_msgs|std_srvs|cv_bridge|"
                 r"builtin_interfaces|\.+msg|\.+srv)\b", re.M)
ALLOWED = {"core": {"core"}, "media": {"media", "core"}, "evaluation": {"evaluation", "core", "media"},
           "ros": {"ros", "core", "media", "msg", "srv"},
           "tools": {"tools", "core", "media", "evaluation", "ros", "msg", "srv"}}
GENERATED = ("msg", "srv")


def modules():
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG).parts
        if parts[0] not in GENERATED:
            yield f, parts


def package_imports(path: Path, parts) -> set:
    """The top-level folders of rl_tracker_ros that ``path`` imports (relative or absolute)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[:-1])[: len(parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # from .. import x (the package itself): the names are modules
                    target = [node.names[0].name]
            elif node.module and node.module.startswith("rl_tracker_ros."):
                target = node.module.split(".")[1:]
            else:
                continue
            found.add(target[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("rl_tracker_ros.")}
    return found


def test_the_package_is_its_folders_only():
    loose = [f.name for f in PKG.glob("*.py") if f.name != "__init__.py"]
    assert not loose, f"modules outside the folders: {loose}"
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders - {"__pycache__"} <= set(ALLOWED) | set(GENERATED), folders


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_dependencies_point_one_way(folder):
    offenders = {}
    for f, parts in modules():
        if parts[0] == folder:
            bad = package_imports(f, parts) - ALLOWED[folder]
            if bad:
                offenders[str(f.relative_to(PKG))] = sorted(bad)
    assert not offenders, f"{folder}/ may import only {sorted(ALLOWED[folder])}: {offenders}"


def test_only_the_ros_folder_imports_ros():
    offenders = [str(f.relative_to(PKG)) for f, parts in modules()
                 if ROS.search(f.read_text()) and parts[0] not in ("ros", "tools")]
    offenders += [f"ros/{n}" for n in ("worker.py", "frame_buffer.py") if ROS.search((PKG / "ros" / n).read_text())]
    assert not offenders, offenders


def test_the_rules_can_fail():
    """The checks see what the code really has (so they can fail)."""
    assert ROS.search((PKG / "ros" / "node.py").read_text())
    assert ROS.search("from ..msg import TrackedObject\n") and ROS.search("import diagnostic_msgs.msg\n")
    node = PKG / "ros" / "node.py"
    assert {"core", "media", "msg"} <= package_imports(node, node.relative_to(PKG).parts)
    demo = PKG / "tools" / "demo.py"
    assert "evaluation" in package_imports(demo, demo.relative_to(PKG).parts)


def test_missing_shared_data_fails_under_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    from _pytest.outcomes import Failed

    from conftest import needs_shared

    def body():
        return "ran"

    monkeypatch.setenv("CI", "1")
    with pytest.raises(Failed, match="CI is set"):
        needs_shared(tmp_path / "absent")(body)()
    assert needs_shared(tmp_path)(body)() == "ran"
    monkeypatch.delenv("CI")
    mark = needs_shared(tmp_path / "absent")
    assert mark.mark.name == "skip"
