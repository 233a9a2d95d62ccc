"""The node as a managed (lifecycle) node: every transition through the real lifecycle
services (~/change_state, ~/get_state) over loopback DDS, in this process with a tiny
trunk, and from another process against the node process with real weights."""
import subprocess
import threading

import numpy as np
import pytest

from ros_harness import RosHarness, header_for  # noqa: I100 (sets the loopback environment first)
from conftest import MOBILENET_TFJS, SEQUENCES, needs_shared, synthetic_sequence
from test_node import play_lockstep, ros, start_tracking  # noqa: F401 (ros is a fixture)

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rl_tracker_ros.msg import TrackedObject

MANUAL = {"autostart": False}


def diagnostics(h: RosHarness):
    got = []
    h.driver.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
    return got


def worker_threads() -> int:
    return sum(t.name == "rl_tracker_worker" and t.is_alive() for t in threading.enumerate())


def test_every_transition_through_the_lifecycle_services(ros):
    frames, gt = synthetic_sequence(n=12)
    threads_before = worker_threads()
    h = ros(MANUAL, expect_active=False)
    assert h.lifecycle_state() == "unconfigured"
    assert h.camera_subscribers() == 0 and not h.init_client.service_is_ready()

    assert h.transition("configure") and h.lifecycle_state() == "inactive"
    assert h.node._worker is not None and h.node._worker._tracker is not None  # built at configure
    assert h.camera_subscribers() == 0, "inactive: no input"
    assert worker_threads() == threads_before + 1

    assert h.transition("activate") and h.lifecycle_state() == "active"
    h.wait_until_active()
    start_tracking(h, frames[0], gt[0])
    tracked = play_lockstep(h, frames[:4])
    assert all(m.state == TrackedObject.STATE_TRACKING for m in tracked)

    # Deactivate while tracking: input and output stop, the target is kept.
    assert h.transition("deactivate") and h.lifecycle_state() == "inactive"
    h.wait_for(lambda: h.camera_subscribers() == 0, 10, "the camera subscription removed")
    silent = h.publish_frame(frames[4], 4)
    with pytest.raises(AssertionError):
        h.wait_for(lambda: h.outputs_for(silent), 1.0, "no output while inactive")
    assert h.transition("activate")
    h.wait_until_active()
    resumed = play_lockstep(h, frames[:8], start=5)
    assert resumed[0].state == TrackedObject.STATE_TRACKING, "the target survived deactivate/activate"
    assert all(m.state != TrackedObject.STATE_IDLE for m in resumed)

    # Cleanup frees the tracker and its thread; configure builds it again.
    assert h.transition("deactivate") and h.transition("cleanup")
    assert h.lifecycle_state() == "unconfigured"
    assert h.node._worker is None and worker_threads() == threads_before
    h.wait_for(lambda: h.driver.count_publishers("tracked_object") == 0, 10, "outputs removed at cleanup")
    assert not h.transition("activate"), "activate is not a transition of the unconfigured state"
    assert h.transition("configure") and h.transition("activate")
    h.wait_until_active()
    h.clear()
    start_tracking(h, frames[8], gt[8])
    assert play_lockstep(h, frames[:11], start=9)[-1].state == TrackedObject.STATE_TRACKING

    assert h.transition("shutdown") and h.lifecycle_state() == "finalized"
    assert worker_threads() == threads_before


@pytest.mark.parametrize("state", ["unconfigured", "inactive", "active"])
def test_shutdown_is_clean_from_every_state(ros, state):
    threads_before = worker_threads()
    h = ros(MANUAL, expect_active=False)
    for label in {"unconfigured": [], "inactive": ["configure"], "active": ["configure", "activate"]}[state]:
        assert h.transition(label)
    assert h.lifecycle_state() == state
    assert h.transition("shutdown")
    assert h.lifecycle_state() == "finalized"
    assert worker_threads() == threads_before and h.node._worker is None
    h.wait_for(lambda: h.camera_subscribers() == 0, 10, "no camera subscription after shutdown")


def test_autostart_configures_and_activates(ros):
    h = ros()
    assert h.lifecycle_state() == "active"


@pytest.mark.parametrize("weights, reason", [("missing", "does not exist"), ("corrupt", "building the tracker failed")])
def test_configure_fails_with_the_reason_without_weights_and_nothing_else_happens(ros, tmp_path, weights, reason):
    path = tmp_path / "nowhere.pt"
    if weights == "corrupt":
        path.write_bytes(b"not a torch file")
    threads_before = worker_threads()
    # The real tracker factory: it loads the weights file.
    h = ros({"weights": str(path)}, factory=None, weights=False, expect_active=False)
    diag = diagnostics(h)
    assert h.lifecycle_state() == "unconfigured", "autostart's configure must fail"
    assert not h.transition("configure")
    assert h.lifecycle_state() == "unconfigured"
    assert h.camera_subscribers() == 0 and h.driver.count_publishers("tracked_object") == 0
    assert worker_threads() == threads_before
    h.wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and reason in s.message
                           for m in diag for s in m.status), 5, f"ERROR diagnostics saying {reason!r}")


@needs_shared(SEQUENCES / "Crossing")
@needs_shared(MOBILENET_TFJS)
def test_lifecycle_of_the_node_process_from_another_process(tmp_path):
    """The node process with the shipped parameters, autostart off, driven from here."""
    from rl_tracker_ros.core.boxes import iou
    from rl_tracker_ros.core.weights import import_weights
    from rl_tracker_ros.media.sequences import load_otb
    from rl_tracker_ros.ros.conversions import rgb_to_image
    from test_hostile_campaign import Driver, start_node_process, stop_process, track
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    seq = load_otb(SEQUENCES / "Crossing")
    frames = [f for _, f in zip(range(12), seq)]
    log_path = tmp_path / "node.log"
    proc = start_node_process(log_path, import_weights(MOBILENET_TFJS), ["autostart:=false"])
    d = Driver()
    change = d.node.create_client(ChangeState, "/rl_tracker/change_state")
    get = d.node.create_client(GetState, "/rl_tracker/get_state")

    def call(client, request, timeout=60):
        future = client.call_async(request)
        RosHarness.wait_for(future.done, timeout, f"{type(request).__name__} answered")
        return future.result()

    def warm_up(client, request):
        """A request sent before the server has matched this client's reader is lost
        (wait_for_service sees only the server): ask harmlessly until one is answered."""
        for _ in range(12):
            try:
                return call(client, request, timeout=5)
            except AssertionError:
                continue
        raise AssertionError(f"{client.srv_name} never answered")

    def transition(label):
        return call(change, ChangeState.Request(transition=Transition(label=label))).success

    def state():
        return call(get, GetState.Request()).current_state.label

    try:
        assert get.wait_for_service(timeout_sec=60) and change.wait_for_service(timeout_sec=60), log_path.read_text()
        warm_up(get, GetState.Request())
        assert not warm_up(change, ChangeState.Request(transition=Transition(label="no_such_transition"))).success
        assert state() == "unconfigured" and d.image.get_subscription_count() == 0
        assert transition("configure") and state() == "inactive"
        assert transition("activate") and state() == "active"
        assert d.initialize.wait_for_service(timeout_sec=30)
        RosHarness.wait_for(lambda: d.image.get_subscription_count() > 0, 30, "camera subscription")
        ious = track(d, seq, frames[:6], offset=0)
        assert np.mean(ious) > 0.5, ious
        assert transition("deactivate") and state() == "inactive"
        RosHarness.wait_for(lambda: d.image.get_subscription_count() == 0, 30, "camera subscription removed")
        assert transition("activate")
        RosHarness.wait_for(lambda: d.image.get_subscription_count() > 0, 30, "camera subscription back")
        header = header_for(6)
        d.image.publish(rgb_to_image(frames[6], header))
        RosHarness.wait_for(lambda: d.results_for(header), 30, "a result after re-activation")
        m = d.results_for(header)[0]
        assert m.state == TrackedObject.STATE_TRACKING, "the target survived deactivate/activate"
        assert iou([m.x, m.y, m.width, m.height], seq.groundtruth[6])[0] > 0.4
        assert transition("deactivate") and transition("cleanup") and state() == "unconfigured"
        assert transition("shutdown") and state() == "finalized"
        assert proc.poll() is None, "the process serves its lifecycle services until it is stopped"
    finally:
        d.close()
        stop_process(proc)
    text = log_path.read_text()
    assert "Traceback" not in text, text
