"""Property-based fuzzing of everything the node takes from the wire before it tracks:
image conversion, compressed decoding, init boxes, parameters and tracker settings.

Each property states the only outcomes allowed: a valid result, or the error type that
carries a reason. Anything else (a cv2.error, an OSError, a numpy reshape error, a YAML
parser error) is a failure; hypothesis shrinks it to the smallest input that shows it.
"""
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from rl_tracker_ros.ros.conversions import (SUPPORTED_ENCODINGS, ImageConversionError, compressed_to_rgb,
                                        image_to_rgb)
from rl_tracker_ros.core.boxes import clip_box
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.ros.node import PARAMS, check_parameter, check_tracker_values

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODINGS = st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=12))
CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3, "mono16": 2,
            "16UC1": 2, "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2}


@st.composite
def image_messages(draw):
    """Images near the valid ones: sizes, steps, byte orders and data lengths a little off."""
    enc = draw(ENCODINGS)
    w, h = draw(st.integers(0, 33)), draw(st.integers(0, 9))
    row = w * CHANNELS.get(enc, 3)
    step = max(0, row + draw(st.integers(-3, 5)))
    n = max(0, step * h + draw(st.sampled_from([0, 0, 0, -1, 1, -step, 7])))
    data = draw(st.binary(min_size=n, max_size=n))
    if draw(st.booleans()):  # a claim far larger than the data
        h, w = draw(st.sampled_from([(2**31 - 1, 2), (100000, 100000), (1, 2**32 - 1)]))
    return Image(height=h, width=w, encoding=enc, is_bigendian=draw(st.integers(0, 1)), step=step, data=data)


@FUZZ
@given(msg=image_messages(), override=st.one_of(st.just(""), ENCODINGS), cap=st.sampled_from([None, 50, 10**6]))
def test_image_conversion_gives_rgb_of_the_stated_size_or_a_conversion_error(msg, override, cap):
    try:
        out = image_to_rgb(msg, override, cap)
    except ImageConversionError as exc:
        assert str(exc)
        return
    assert out.shape == (msg.height, msg.width, 3) and out.dtype == np.uint8
    assert cap is None or msg.height * msg.width <= cap


def png_claiming(width: int, height: int) -> bytes:
    """A real 2x2 PNG whose header claims ``width`` x ``height``, with a valid CRC: what a
    decompression bomb looks like to anything that trusts the header."""
    ok, buf = cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))
    data = bytearray(buf.tobytes())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


@st.composite
def compressed_payloads(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    img = rng.integers(0, 255, (draw(st.integers(1, 24)), draw(st.integers(1, 24)), 3), dtype=np.uint8)
    ok, buf = cv2.imencode(draw(st.sampled_from([".png", ".jpg"])), img)
    real = buf.tobytes()
    kind = draw(st.sampled_from(["real", "truncated", "flipped", "garbage", "bomb", "empty"]))
    if kind == "truncated":
        return real[:draw(st.integers(0, len(real) - 1))]
    if kind == "flipped":
        at = draw(st.integers(0, len(real) - 1))
        return real[:at] + bytes([real[at] ^ 0xFF]) + real[at + 1:]
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "bomb":
        return png_claiming(draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1)))
    return b"" if kind == "empty" else real


@FUZZ
@given(data=compressed_payloads(), fmt=st.sampled_from(["png", "jpeg", "", "rgb8; jpeg compressed bgr8"]))
def test_compressed_decoding_gives_rgb_or_a_conversion_error_and_honours_the_cap(data, fmt):
    cap = 24 * 24
    try:
        out = compressed_to_rgb(CompressedImage(format=fmt, data=data), cap)
    except ImageConversionError as exc:
        assert str(exc)
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
    assert out.shape[0] * out.shape[1] <= cap


def test_a_bomb_is_refused_from_its_header():
    with pytest.raises(ImageConversionError, match="larger than the cap"):
        compressed_to_rgb(CompressedImage(format="png", data=png_claiming(60000, 60000)), 3840 * 2160)


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**40, 2**40),
                    st.sampled_from([3.4e38, 1e-30, -0.0, 2**32 - 1]))


@FUZZ
@given(box=st.lists(NUMBERS, min_size=4, max_size=4), w=st.integers(2, 800), h=st.integers(2, 600),
       min_size=st.sampled_from([1.0, 10.0]))
def test_init_boxes_are_clipped_inside_the_image_or_refused(box, w, h, min_size):
    try:
        out = clip_box(box, (h, w, 3), min_size)
    except ValueError as exc:
        assert str(exc)
        return
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(box))
    assert out[0] >= 0 and out[1] >= 0 and out[0] + out[2] <= w + 1e-9 and out[1] + out[3] <= h + 1e-9
    assert out[2] >= min_size and out[3] >= min_size


ANY_VALUE = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20),
                      st.text(alphabet="/.a\x00", min_size=4000, max_size=5000),
                      st.lists(st.integers(), max_size=3), st.binary(max_size=8))


@FUZZ
@given(name=st.sampled_from(sorted(PARAMS)), value=ANY_VALUE)
def test_a_parameter_value_is_accepted_or_refused_with_a_reason_never_raised(name, value):
    problem = check_parameter(name, value)
    assert problem is None or (isinstance(problem, str) and problem)
    if problem is None:
        assert type(value) in (type(PARAMS[name].default), int)


YAML_VALUES = st.sampled_from([".inf", "-.inf", ".nan", "1e400", "-1", "0", "7", "2.5", "true", "null", "'x'",
                               "[1, 2]", "[0.9, 0.1]", "{a: 1}", "\"\\x00\"", "!!binary aGk=", ": :", "[", "&a *a"])


@FUZZ
@given(entries=st.lists(st.tuples(st.sampled_from(TrackerConfig.field_names() + ("nonsense",)), YAML_VALUES),
                        max_size=4),
       raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_tracker_config_files_are_refused_with_a_reason_or_give_finite_settings(tmp_path_factory, entries, raw):
    path = tmp_path_factory.mktemp("cfg") / "tracker.yaml"
    if raw is None:
        path.write_text("".join(f"{k}: {v}\n" for k, v in entries))
    else:
        path.write_bytes(raw)
    values = {name: p.default for name, p in PARAMS.items()}
    values.update(tracker_config=str(path), weights="", device="cpu")
    problem = check_tracker_values(values)  # weights are missing here: the config is read first
    assert problem is None or isinstance(problem, str)
    try:
        cfg = TrackerConfig.from_yaml(path)
    except Exception as exc:  # the core may raise (the node's check turns it into a reason) ...
        assert problem is not None, f"the node accepted settings the core refuses: {exc}"
        return
    for value in cfg.to_dict().values():  # ... but what it accepts is finite
        if isinstance(value, float):
            assert np.isfinite(value)
