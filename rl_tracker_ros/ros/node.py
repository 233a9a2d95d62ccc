"""The ROS 2 node: camera images and an init box in, the tracked object out.

Topics (relative names, remappable):
  in   image (sensor_msgs/Image) or image/compressed (sensor_msgs/CompressedImage)
  in   init_box (rl_tracker_ros/InitBox), init_roi (sensor_msgs/RegionOfInterest)
  out  tracked_object (rl_tracker_ros/TrackedObject), roi (sensor_msgs/RegionOfInterest)
  out  ~/debug_image, ~/attention (sensor_msgs/Image, rgb8), /diagnostics
Services: ~/initialize (rl_tracker_ros/Initialize), ~/reset (std_srvs/Trigger).

A managed (lifecycle) node, as robot bring-up (Nav2's lifecycle manager and others)
expects: ``configure`` declares and checks the parameters, finds the weights and builds
the tracker (a failure leaves the node unconfigured, with the reason logged and on
/diagnostics); ``activate`` creates the subscriptions and services and enables the
outputs; ``deactivate`` removes input and output but keeps the tracker and its target;
``cleanup`` frees the model; ``shutdown`` works from any state. With ``autostart``
(default true) the node configures and activates itself at start-up.

Callbacks only convert and hand over; the tracking runs on :class:`TrackingWorker`'s
thread, which always takes the newest frame. Every bad message is logged (throttled)
and dropped; the node keeps serving. Every callback ROS calls (subscriptions, services,
rclpy's own parameter services, timers, the parameter-set callback) goes through one
guard (:meth:`TrackerNode._guard_callbacks`): an unexpected exception is logged (the
first of each kind with its traceback), counted on /diagnostics and, for a service or a
parameter set, answered as a failure with the reason; :func:`spin` does the same for
exceptions raised in rclpy's own handling.
"""
from __future__ import annotations

import functools
import math
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import cv2
import numpy as np
import rclpy
import rclpy.executors
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType,
                                SetParametersResult)
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_srvs.srv import Trigger

from .conversions import (MAX_PIXELS_4K, SUPPORTED_ENCODINGS, ImageConversionError, compressed_to_rgb,
                          image_to_rgb, rgb_to_image, stamp_ns)
from ..core.boxes import clip_box
from ..core.config import TrackerConfig
from ..core.interface import Tracker
from ..core.tracker import DATTracker, TrackState
from ..core.weights import REGISTRY, WeightsError, check_weights_name, resolve_weights
from .frame_buffer import Frame, FrameBuffer
from ..msg import InitBox, TrackedObject
from ..srv import Initialize
from ..media.drawing import draw_result
from .worker import Output, TrackingWorker, describe_error, free_device_memory

STATE_CODES = {TrackState.IDLE: TrackedObject.STATE_IDLE, TrackState.TRACKING: TrackedObject.STATE_TRACKING,
               TrackState.UNCERTAIN: TrackedObject.STATE_UNCERTAIN, TrackState.LOST: TrackedObject.STATE_LOST}
LOG_THROTTLE_S = 5.0


@dataclass(frozen=True)
class Param:
    default: Any
    description: str
    read_only: bool = False
    range: Optional[Tuple[float, float]] = None
    choices: Tuple[str, ...] = ()
    tracker: bool = False  # takes effect at the next initialisation


PARAMS: Dict[str, Param] = {
    "autostart": Param(True, "configure and activate at start-up; false: wait in the unconfigured state "
                             "for the lifecycle services (a lifecycle manager's bring-up)", read_only=True),
    "device": Param("auto", "where the tracker runs: auto (cuda if available), cpu, cuda or cuda:N", tracker=True),
    "backbone": Param("mobilenet", "frozen conv trunk", choices=tuple(REGISTRY), tracker=True),
    "weights": Param("", "weights file of the backbone; empty: $RL_TRACKER_WEIGHTS or the user cache "
                         "(`rl-tracker weights list`)", tracker=True),
    "tracker_config": Param("", "YAML file of further tracker settings (rl_tracker_ros.core.config."
                                "TrackerConfig keys); the parameters of this node win over it", tracker=True),
    "profile": Param("auto", "tracker settings preset: auto (paper on a CUDA device, fast otherwise), paper "
                             "(the DAT paper; seconds per frame on a CPU) or fast (one trunk pass per frame; "
                             "real time on a CPU)", choices=("auto", "paper", "fast"), tracker=True),
    "lam": Param(-1.0, "reciprocative learning weight lambda (Eq. 5); 0 gives the MDNet baseline; "
                       "negative: the profile's own value", range=(-1.0, 100.0), tracker=True),
    "score_threshold": Param(0.0, "mean top-5 score below which a frame counts as a failure "
                                  "(UNCERTAIN, then LOST)", range=(-100.0, 100.0), tracker=True),
    "lost_after": Param(5, "consecutive failures before UNCERTAIN becomes LOST", range=(1, 10000), tracker=True),
    "seed": Param(0, "seed of the tracker's sampling and dropout", range=(0, 2**31 - 1), tracker=True),
    "use_compressed": Param(False, "subscribe to image/compressed (jpeg/png) instead of image", read_only=True),
    "input_encoding": Param("", "override the encoding the camera declares; empty: trust it. One of "
                                + ", ".join(SUPPORTED_ENCODINGS)),
    "image_qos": Param("sensor_data", "image subscription QoS: sensor_data (best effort) or reliable",
                       read_only=True, choices=("sensor_data", "reliable")),
    "image_queue_depth": Param(1, "image subscription depth; 1 keeps only the newest frame",
                               read_only=True, range=(1, 100)),
    "frame_buffer_size": Param(60, "recent frames kept for init boxes stamped in the past and for "
                                   "catching up after first-frame training", read_only=True, range=(1, 1000)),
    "catch_up_step": Param(3, "after first-frame training, track every n-th of the frames that arrived "
                              "meanwhile until the newest is reached, so a fast target stays in the "
                              "search window; 0 jumps straight to the newest frame", read_only=True,
                           range=(0, 30)),
    "warm_up": Param(True, "when the tracker is built (configure, a tracker setting changed), one "
                           "initialisation on a synthetic frame, so the first init box waits only for "
                           "training: a process's first initialisation pays one-time costs (0.03-0.3 s "
                           "on a CPU)", read_only=True),
    "init_stamp_tolerance": Param(0.05, "s; an init box initialises on the buffered frame nearest its stamp "
                                        "if it is this close", range=(0.0, 10.0)),
    "publish_debug_image": Param(True, "publish ~/debug_image (frame with box, score and state) when subscribed"),
    "publish_attention": Param(False, "compute and publish ~/attention (the box's attention map) when subscribed; "
                                      "costs one input-gradient pass per frame"),
    "diagnostics_period": Param(1.0, "s between /diagnostics messages; 0 turns them off",
                                read_only=True, range=(0.0, 60.0)),
    "max_image_pixels": Param(MAX_PIXELS_4K, "images with more pixels than this (declared size, or a compressed "
                                             "image's header) are refused before decoding or buffering; "
                                             "default a 4K UHD frame", range=(1, 2**31 - 1)),
    "service_queue_depth": Param(100, "requests each service of this node queues, so a burst of calls is "
                                      "answered, not dropped", read_only=True, range=(1, 10000)),
}
#: Declared at construction, before any transition needs them; the rest at configure.
NODE_PARAMS = ("autostart", "diagnostics_period")
#: Callback kinds the guard counts (``spin``: raised in rclpy's own handling).
CALLBACK_KINDS = ("image", "init", "service", "parameters", "timer", "spin")
#: The ParameterValue types rclpy knows (it raises on any other).
PARAMETER_TYPES = frozenset(v for k, v in vars(ParameterType).items() if k.startswith("PARAMETER_"))
#: Longest string parameter accepted (paths and encodings; longer is refused unread).
MAX_STRING_PARAM = 4096


def _descriptor(name: str, p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(name=name, description=p.description, read_only=p.read_only)
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(p.choices)
    if p.range is not None:
        if isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(p.range[0]), to_value=float(p.range[1]))]
        else:
            d.integer_range = [IntegerRange(from_value=int(p.range[0]), to_value=int(p.range[1]), step=1)]
    return d


def tracker_config(values: Dict[str, Any]) -> TrackerConfig:
    """The tracker's config from the node's parameter values (raises ValueError/OSError)."""
    profile, device = values["profile"], values["device"]
    base = (TrackerConfig.from_yaml(values["tracker_config"], profile=profile, device=device)
            if values["tracker_config"] else TrackerConfig.preset(profile, device=device))
    lam = float(values["lam"])
    return base.replace(device=values["device"], backbone=values["backbone"], weights=values["weights"] or None,
                        lam=lam if lam >= 0 else base.lam, success_threshold=float(values["score_threshold"]),
                        lost_after=int(values["lost_after"]), seed=int(values["seed"]))


def check_parameter(name: str, value: Any) -> Optional[str]:
    """Why ``value`` is not acceptable for parameter ``name`` (type, finiteness, range,
    choices, string length), or None. Touches nothing outside: no file, no parser."""
    spec = PARAMS[name]
    kind = type(spec.default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        return f"{name} must be a {kind.__name__}, got {type(value).__name__}"
    if kind is float and not math.isfinite(value):
        return f"{name} must be finite, got {value}"
    if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
        return f"{name} must be in [{spec.range[0]}, {spec.range[1]}], got {value}"
    if kind is str:
        if len(value) > MAX_STRING_PARAM or "\x00" in value:
            return f"{name} must be a string of at most {MAX_STRING_PARAM} characters without NUL"
        if spec.choices and value not in spec.choices:
            return f"{name} must be one of {', '.join(spec.choices)}"
        if name == "input_encoding" and value and value not in SUPPORTED_ENCODINGS:
            return f"unsupported encoding {value!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
    return None


def check_tracker_values(values: Dict[str, Any]) -> Optional[str]:
    """Why these tracker parameters cannot work, or None. Cheap: no weights are read.

    Each value is checked on its own first; whatever then fails (a file that cannot be
    read, YAML that does not parse, settings out of range) is a reason, never raised."""
    for name in PARAMS:
        problem = check_parameter(name, values[name]) if name in values else None
        if problem:
            return problem
    try:
        return _tracker_problem(values)
    except Exception as exc:  # anything a parser or the file system raises
        return f"tracker settings rejected: {type(exc).__name__}: {exc}"


def _tracker_problem(values: Dict[str, Any]) -> Optional[str]:
    device = str(values["device"])
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        return f"device must be auto, cpu, cuda or cuda:N, not {device!r}"
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"device {device!r} asked for, but CUDA is not available on this machine"
    cfg = tracker_config(values)
    if not cfg.allow_random_backbone:
        try:
            check_weights_name(resolve_weights(cfg.backbone, cfg.weights))
        except WeightsError as exc:
            return str(exc)
    return None


class TrackerNode(LifecycleNode):
    """DAT single-object tracker as a managed ROS 2 node (see the module docstring)."""

    def __init__(self, node_name: str = "rl_tracker", tracker_factory: Optional[Callable[[TrackerConfig], Tracker]] = None,
                 **kwargs):
        super().__init__(node_name, **kwargs)
        self._tracker_factory = tracker_factory or (lambda cfg: DATTracker(cfg))
        self.callback_errors: Counter = Counter()
        self._errors_reported = 0
        self._tracebacks_logged: set = set()  # failure kinds logged once with a traceback
        self._received = 0
        self._bad_messages = 0
        self._last_image_time: Optional[float] = None
        self._last_latency = 0.0
        self._declaring = False
        self._values: Dict[str, Any] = {}
        self._declare(NODE_PARAMS)
        # What exists in which state: configured: these five; active: the inputs.
        self._config: Optional[TrackerConfig] = None
        self._problem: Optional[str] = None  # why the last configure failed
        self._buffer: Optional[FrameBuffer] = None
        self._worker: Optional[TrackingWorker] = None
        self._outputs: list = []
        self._inputs: list = []
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self._values["diagnostics_period"] > 0:
            self.create_timer(float(self._values["diagnostics_period"]), self._publish_diagnostics)
        self._guard_callbacks()
        self.add_on_set_parameters_callback(self._guarded(
            "parameters", self._on_set_parameters,
            lambda reason, *_: SetParametersResult(successful=False, reason=reason)))
        if self._values["autostart"] and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _declare(self, names) -> None:
        """Declare ``names`` (those not yet declared) and read their values."""
        self._declaring = True  # the parameter-set callback lets declarations through
        try:
            for name in names:
                if not self.has_parameter(name):
                    self.declare_parameter(name, PARAMS[name].default, _descriptor(name, PARAMS[name]))
        finally:
            self._declaring = False
        self._values.update({name: self.get_parameter(name).value for name in names})

    @property
    def lifecycle_state(self) -> str:
        """unconfigured, inactive, active or finalized (or a transition's label)."""
        return self._state_machine.current_state[1]

    # ------------------------------------------------------------------ lifecycle transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Parameters checked, weights found and the tracker built, or FAILURE with the reason."""
        try:
            self._declare(PARAMS)
            problem = check_tracker_values(self._values)
            if problem is None:
                config = tracker_config(self._values)
                buffer = FrameBuffer(int(self._values["frame_buffer_size"]))
                worker = TrackingWorker(self._make_tracker_builder(config), self._publish, self._worker_error,
                                        self._attention_wanted, history=buffer.after,
                                        catch_up_step=int(self._values["catch_up_step"]))
                try:
                    worker.build()  # loads the weights: missing or corrupt ones fail here
                except Exception as exc:
                    worker.stop()
                    problem = f"building the tracker failed: {describe_error(exc)}"
        except Exception as exc:  # a bug: said with its traceback, the node stays unconfigured
            self._log_failure("configure", f"configure failed: {type(exc).__name__}: {exc}", exc)
            self._problem = f"configure failed: {type(exc).__name__}: {exc}"
            return TransitionCallbackReturn.FAILURE
        if problem is not None:
            self._problem = problem
            self.get_logger().error(f"configure failed, the node stays unconfigured: {problem}")
            return TransitionCallbackReturn.FAILURE
        self._config, self._problem, self._buffer, self._worker = config, None, buffer, worker
        self._create_outputs()
        self._log_profile()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)  # enables the lifecycle publishers
        self._create_inputs()
        self._guard_callbacks()
        self.get_logger().info("active: tracking from the camera topic")
        return ret

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_inputs()
        self._worker.drop_pending()
        self.get_logger().info("inactive: input and output stopped; settings and target kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("unconfigured: tracker and model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    def _release(self) -> None:
        """Stop the worker and free the tracker (and its device memory) and the outputs."""
        if self._worker is not None:
            self._worker.stop()
        for pub in self._outputs:
            self.destroy_lifecycle_publisher(pub)
        self._outputs, self._worker, self._buffer, self._config = [], None, None, None
        free_device_memory()

    # ------------------------------------------------------------------ wiring
    def _create_outputs(self) -> None:
        pub = self.create_lifecycle_publisher
        self._pub_object = pub(TrackedObject, "tracked_object", 10)
        self._pub_roi = pub(RegionOfInterest, "roi", 10)
        self._pub_debug = pub(Image, "~/debug_image", 1)
        self._pub_attention = pub(Image, "~/attention", 1)
        self._outputs = [self._pub_object, self._pub_roi, self._pub_debug, self._pub_attention]

    def _create_inputs(self) -> None:
        v = self._values
        reliability = ReliabilityPolicy.RELIABLE if v["image_qos"] == "reliable" else ReliabilityPolicy.BEST_EFFORT
        image_qos = QoSProfile(depth=int(v["image_queue_depth"]), reliability=reliability,
                               history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
        if v["use_compressed"]:
            image = self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, image_qos)
        else:
            image = self.create_subscription(Image, "image", self._on_image, image_qos)
        service_qos = QoSProfile(depth=int(v["service_queue_depth"]), reliability=ReliabilityPolicy.RELIABLE,
                                 history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
        self._inputs = [
            image,
            self.create_subscription(InitBox, "init_box", self._on_init_box, 10),
            self.create_subscription(RegionOfInterest, "init_roi", self._on_init_roi, 10),
            self.create_service(Initialize, "~/initialize", self._on_initialize, qos_profile=service_qos),
            self.create_service(Trigger, "~/reset", self._on_reset, qos_profile=service_qos),
        ]

    def _destroy_inputs(self) -> None:
        for entity in self._inputs:
            if isinstance(entity, rclpy.service.Service):
                self.destroy_service(entity)
            else:
                self.destroy_subscription(entity)
        self._inputs = []

    # ------------------------------------------------------------------ the one guard
    def _guard_callbacks(self) -> None:
        """Wrap every callback ROS will call, rclpy's own parameter and lifecycle services
        included, so that no exception leaves one (see :meth:`callback_failed`). Called
        again when entities are created; each is wrapped once."""
        for sub in self.subscriptions:
            if not _is_guarded(sub.callback):
                kind = "image" if sub.msg_type in (Image, CompressedImage) else "init"
                sub.callback = self._guarded(kind, sub.callback)
        for srv in self.services:
            if _is_guarded(srv.callback):
                continue
            if srv.srv_type in (SetParameters, SetParametersAtomically):  # rclpy's own
                srv.callback = self._checked_parameter_request(srv.callback)
            srv.callback = self._guarded("service", srv.callback, failed_response)
        for timer in self.timers:
            if not _is_guarded(timer.callback):
                timer.callback = self._guarded("timer", timer.callback)

    def _checked_parameter_request(self, fn: Callable) -> Callable:
        """rclpy's parameter service raises on a value type it does not know; refuse such
        a request with the reason instead, as any other bad input."""
        @functools.wraps(fn)
        def call(request, response):
            for p in request.parameters:
                if p.value.type not in PARAMETER_TYPES:
                    self._bad_messages += 1
                    reason = f"parameter {p.name!r}: unknown ParameterValue type {p.value.type}"
                    self.get_logger().warning(f"set_parameters refused: {reason}",
                                              throttle_duration_sec=LOG_THROTTLE_S)
                    return failed_response(reason, request, response)
            return fn(request, response)
        return call

    def _guarded(self, kind: str, fn: Callable, on_error: Optional[Callable] = None) -> Callable:
        """``fn`` that logs, counts and (with ``on_error(reason, *args)``) answers its failures."""
        @functools.wraps(fn)
        def call(*args):
            try:
                return fn(*args)
            except Exception as exc:
                self.callback_failed(kind, exc)
                if on_error is not None:
                    return on_error(f"internal error in the node ({kind} callback): {type(exc).__name__}: {exc}",
                                    *args)
                return None
        call.rl_tracker_guarded = True
        return call

    def callback_failed(self, kind: str, exc: BaseException) -> None:
        """Count ``exc`` under ``kind``; the first of a kind is logged with its traceback."""
        self.callback_errors[kind] += 1
        self._log_failure(f"{kind} callback", f"{kind} callback failed: {type(exc).__name__}: {exc}", exc)

    def _log_failure(self, key: str, text: str, exc: Optional[BaseException]) -> None:
        """``text`` as an error: with ``exc``'s full traceback the first time ``key`` fails,
        throttled after that (and always without an exception)."""
        if exc is not None and key not in self._tracebacks_logged:
            self._tracebacks_logged.add(key)
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.get_logger().error(f"{text} (the first {key} failure; later ones are throttled)\n{tb}")
        else:
            self.get_logger().error(text, throttle_duration_sec=LOG_THROTTLE_S)

    def _make_tracker_builder(self, cfg: TrackerConfig) -> Callable[[], Tracker]:
        warm = bool(self._values["warm_up"])

        def build() -> Tracker:
            tracker = self._tracker_factory(cfg)
            if warm and hasattr(tracker, "warm_up"):
                tracker.warm_up()  # on the worker thread, before any init box
            return tracker
        return build

    def destroy_node(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        super().destroy_node()

    # ------------------------------------------------------------------ inputs
    def _on_image(self, msg: Image) -> None:
        self._take_frame(msg.header, lambda: image_to_rgb(msg, self._values["input_encoding"],
                                                          int(self._values["max_image_pixels"])))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._take_frame(msg.header, lambda: compressed_to_rgb(msg, int(self._values["max_image_pixels"])))

    def _take_frame(self, header, convert: Callable[[], np.ndarray]) -> None:
        arrival = time.monotonic()
        worker, buffer = self._worker, self._buffer
        if worker is None or buffer is None:  # a callback that began before a cleanup
            return
        self._received += 1
        try:
            rgb = convert()
        except ImageConversionError as exc:
            self._bad_messages += 1
            self.get_logger().warning(f"dropping image: {exc}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        self._last_image_time = arrival
        worker.submit(buffer.push(Frame(rgb, header, stamp_ns(header.stamp), arrival)))

    def _on_init_box(self, msg: InitBox) -> None:
        ok, reason = self.request_init((msg.x, msg.y, msg.width, msg.height), stamp_ns(msg.header.stamp))
        self._log_init(ok, reason, "init_box")

    def _on_init_roi(self, msg: RegionOfInterest) -> None:
        ok, reason = self.request_init((msg.x_offset, msg.y_offset, msg.width, msg.height), 0)
        self._log_init(ok, reason, "init_roi")

    def _on_initialize(self, request: Initialize.Request, response: Initialize.Response) -> Initialize.Response:
        b = request.box
        response.success, response.reason = self.request_init((b.x, b.y, b.width, b.height),
                                                              stamp_ns(b.header.stamp))
        self._log_init(response.success, response.reason, "~/initialize")
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._worker is None:
            return failed_response(f"the node is {self.lifecycle_state}, not active", request, response)
        self._worker.reset()
        response.success, response.message = True, "tracking stopped; state IDLE until the next init box"
        self.get_logger().info("reset: " + response.message)
        return response

    def request_init(self, box, stamp: int) -> Tuple[bool, str]:
        """Check an init box against the frame it refers to and hand it to the worker.

        ``stamp`` 0 means the newest frame. Returns (accepted, reason); training then runs
        in the background and ``tracked_object`` turns from IDLE to TRACKING.
        """
        worker, buffer, config = self._worker, self._buffer, self._config
        if worker is None or buffer is None or config is None or not self._inputs:
            return False, f"the node is {self.lifecycle_state}, not active"
        try:
            if stamp == 0:
                frame = buffer.newest()
                if frame is None:
                    raise LookupError("no image received yet")
            else:
                frame = buffer.nearest(stamp, int(self._values["init_stamp_tolerance"] * 1e9))
            valid = clip_box(box, frame.image.shape, config.min_box_size)
        except (LookupError, ValueError) as exc:
            return False, str(exc)
        worker.initialize(frame, valid)
        h, w = frame.image.shape[:2]
        return True, (f"initialising on the {w}x{h} frame stamped {frame.stamp_ns / 1e9:.3f} s "
                      f"with box {[round(float(v), 1) for v in valid]}")

    def _log_init(self, ok: bool, reason: str, source: str) -> None:
        if ok:
            self.get_logger().info(f"{source}: {reason}")
        else:
            self.get_logger().warning(f"{source} refused: {reason}", throttle_duration_sec=LOG_THROTTLE_S)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, params) -> SetParametersResult:
        if self._declaring:  # declarations (their values are checked at configure)
            return SetParametersResult(successful=True)
        values = dict(self._values)
        for p in params:
            if p.name not in PARAMS:
                continue
            problem = check_parameter(p.name, p.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
            values[p.name] = p.value
        changed_tracker = any(PARAMS[p.name].tracker for p in params if p.name in PARAMS)
        if changed_tracker:
            problem = check_tracker_values(values)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        self._values = values
        if changed_tracker and self._worker is not None:
            self._config = tracker_config(values)
            self._worker.reconfigure(self._make_tracker_builder(self._config))
            self._worker.prepare()
            self.get_logger().info("tracker settings changed; they apply from the next init box")
            self._log_profile()
        return SetParametersResult(successful=True)

    def _log_profile(self) -> None:
        cfg = self._config
        asked = self._values["profile"]
        how = f" (profile {asked}, device {cfg.device})" if asked == "auto" else ""
        self.get_logger().info(f"tracker profile {cfg.profile}{how}: {cfg.feature_mode} features, "
                               f"lambda {cfg.lam:g}, backbone {cfg.backbone}")

    # ------------------------------------------------------------------ outputs (worker thread)
    def _attention_wanted(self) -> bool:  # (worker thread, configured)
        return bool(self._values["publish_attention"]) and self._pub_attention.get_subscription_count() > 0

    def _publish(self, out: Output) -> None:
        header, res = out.frame.header, out.result
        msg = TrackedObject(header=header, state=STATE_CODES[out.state], latency=float(out.latency),
                            processing_rate=float(out.processing_rate), frames_dropped=int(out.dropped))
        if res is not None:
            x, y, w, h = (float(v) for v in res.box)
            msg.x, msg.y, msg.width, msg.height = x, y, w, h
            msg.center_x, msg.center_y = x + w / 2, y + h / 2
            msg.score, msg.processing_time = float(res.score), float(res.time_s)
        self._pub_object.publish(msg)
        self._last_latency = out.latency
        if res is not None and out.state == TrackState.TRACKING:
            self._pub_roi.publish(roi_of(res.box, out.frame.image.shape))
        if self._values["publish_debug_image"] and self._pub_debug.get_subscription_count() > 0:
            drawn = draw_result(out.frame.image, None if res is None else res.box,
                                0.0 if res is None else res.score, out.state.value)
            self._pub_debug.publish(rgb_to_image(drawn, header))
        if res is not None and res.attention is not None:
            colour = cv2.applyColorMap(np.clip(res.attention * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
            self._pub_attention.publish(rgb_to_image(cv2.cvtColor(colour, cv2.COLOR_BGR2RGB), header))

    def _worker_error(self, text: str, exc: Optional[BaseException] = None) -> None:
        """The worker's problems: one throttled line each; an unexpected exception's first
        occurrence (per type) with its full traceback."""
        self._log_failure(f"worker {type(exc).__name__}" if exc is not None else "worker", text, exc)

    def stats(self) -> Dict[str, Any]:
        """Counters and rates, as published on /diagnostics."""
        w = self._worker
        return {"lifecycle": self.lifecycle_state, "state": w.state.value if w else TrackState.IDLE.value,
                "profile": self._config.profile if self._config else "",
                "processing_rate_hz": round(w.processing_rate, 2) if w else 0.0,
                "latency_s": round(self._last_latency, 3), "frames_received": self._received,
                "frames_dropped": w.dropped if w else 0, "frames_failed": w.frames_failed if w else 0,
                "bad_messages": self._bad_messages,
                "callback_errors": sum(self.callback_errors.values()),
                **{f"callback_errors_{k}": self.callback_errors[k] for k in CALLBACK_KINDS}}

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name=f"{self.get_name()}: tracking",
                                  hardware_id=str(self._values.get("device", "")))
        lifecycle = self.lifecycle_state
        worker = self._worker
        silent = self._last_image_time is None or time.monotonic() - self._last_image_time > 2.0
        errors = sum(self.callback_errors.values())
        new_errors, self._errors_reported = errors - self._errors_reported, errors
        health, failed, recent = worker.health() if worker else ("ok", 0, 0)
        if self._problem:
            status.level, status.message = DiagnosticStatus.ERROR, f"not configured: {self._problem}"
        elif lifecycle != "active":
            status.level, status.message = DiagnosticStatus.OK, f"{lifecycle} (lifecycle): not tracking"
        elif health == "error":
            status.level = DiagnosticStatus.ERROR
            status.message = f"tracking fails: all of the last {recent} frames failed (see the log)"
        elif health == "warn":
            status.level = DiagnosticStatus.WARN
            status.message = f"{failed} of the last {recent} tracked frames failed (see the log)"
        elif silent:
            status.level, status.message = DiagnosticStatus.WARN, "no images in the last 2 s"
        elif new_errors:
            status.level = DiagnosticStatus.WARN
            status.message = f"{new_errors} callback error(s) since the last report (see the log); still serving"
        elif worker.state == TrackState.LOST:
            status.level, status.message = DiagnosticStatus.WARN, "target lost"
        else:
            status.level, status.message = DiagnosticStatus.OK, worker.state.value
        status.values = [KeyValue(key=k, value=str(v)) for k, v in self.stats().items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(msg)


def _is_guarded(callback) -> bool:
    return getattr(callback, "rl_tracker_guarded", False)


def failed_response(reason: str, request, response):
    """A service's response that says it failed, whatever the service type: ``success``
    false with ``reason`` / ``message``; a parameter set's results failed one by one."""
    if hasattr(response, "success"):
        response.success = False
        for field in ("reason", "message"):
            if hasattr(response, field):
                setattr(response, field, reason)
    if hasattr(response, "results") and hasattr(request, "parameters"):
        response.results = [SetParametersResult(successful=False, reason=reason) for _ in request.parameters]
    if hasattr(response, "result") and isinstance(getattr(response, "result"), SetParametersResult):
        response.result = SetParametersResult(successful=False, reason=reason)
    return response


def spin(node: "TrackerNode", executor: Optional[rclpy.executors.Executor] = None) -> None:
    """Spin ``node`` until shutdown; an exception raised in rclpy's own handling of a
    message or request (outside every callback) is counted and logged, and spinning goes on.

    A signal shuts the context down from its handler, which can land while ``spin_once``
    builds its wait set: rclpy then raises an RCLError ("the given context is not valid").
    That is the shutdown asked for, not a failure, so it ends spinning quietly."""
    executor = executor or rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while node.context.ok():
            try:
                executor.spin_once(timeout_sec=0.5)
            except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
                raise
            except Exception as exc:
                if not node.context.ok():
                    break
                node.callback_failed("spin", exc)
    finally:
        executor.remove_node(node)


def roi_of(box, shape) -> RegionOfInterest:
    """The box as an integer RegionOfInterest clipped to an image of ``shape`` (H, W, ...)."""
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor([box[0], box[1]]), 0, [w, h]).astype(int)
    x1, y1 = np.clip(np.ceil([box[0] + box[2], box[1] + box[3]]), 0, [w, h]).astype(int)
    return RegionOfInterest(x_offset=int(x0), y_offset=int(y0), width=int(x1 - x0), height=int(y1 - y0),
                            do_rectify=False)


def main(args=None) -> None:
    rclpy.init(args=args)
    node = TrackerNode()
    try:
        spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if node.context.ok() and node.lifecycle_state in ("unconfigured", "inactive", "active"):
            node.trigger_shutdown()
        node.destroy_node()  # stops the worker in any state
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
