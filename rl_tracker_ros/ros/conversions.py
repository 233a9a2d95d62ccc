"""sensor_msgs images <-> numpy arrays, compatible with cv_bridge's conventions.

PyPI's cv_bridge ports are broken (NOTES.md section 5), so the node converts itself:
rows are read through ``step`` (drivers pad rows), 16-bit data honours
``is_bigendian``, and every problem raises :class:`ImageConversionError` with a reason,
never a numpy reshape error, whatever library failed first: a message from the wire is
hostile until converted. Images larger than ``max_pixels`` are refused from their
declared size (compressed ones from their header) before a byte is decoded. The tracker wants RGB uint8, so :func:`image_to_rgb` ends
there; :func:`rgb_to_image` builds the node's output images. The readers use the
message fields only, so they also take the messages rosbags deserialises from a bag.
"""
from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple, TypeVar

import cv2
import numpy as np

if TYPE_CHECKING:  # the readers only use the fields, so rosbags' messages work too
    from sensor_msgs.msg import CompressedImage, Image


class ImageConversionError(ValueError):
    """An image message that cannot be turned into a frame; the message says why."""


# encoding -> (numpy dtype, channels, OpenCV conversion to RGB or None when already RGB)
_ENCODINGS: Dict[str, Tuple[np.dtype, int, int | None]] = {
    "rgb8": (np.dtype(np.uint8), 3, None),
    "bgr8": (np.dtype(np.uint8), 3, cv2.COLOR_BGR2RGB),
    "rgba8": (np.dtype(np.uint8), 4, cv2.COLOR_RGBA2RGB),
    "bgra8": (np.dtype(np.uint8), 4, cv2.COLOR_BGRA2RGB),
    "mono8": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2RGB),
    "8UC1": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2RGB),
    "8UC3": (np.dtype(np.uint8), 3, cv2.COLOR_BGR2RGB),  # OpenCV's default order, as cv_bridge
    "mono16": (np.dtype(np.uint16), 1, cv2.COLOR_GRAY2RGB),
    "16UC1": (np.dtype(np.uint16), 1, cv2.COLOR_GRAY2RGB),
    "yuv422": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_UYVY),       # UYVY
    "uyvy": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_YUYV),  # YUYV
    "yuyv": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2RGB_YUYV),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
#: Two pixels share one (U, V) pair: these packings need an even width.
_PAIRED = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")
#: Default cap on a frame's pixels: a 4K UHD frame.
MAX_PIXELS_4K = 3840 * 2160

F = TypeVar("F", bound=Callable)


def _conversion(fn: F) -> F:
    """Every failure of ``fn`` becomes an ``ImageConversionError`` naming what failed."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ImageConversionError:
            raise
        except Exception as exc:  # cv2.error, MemoryError-free numpy errors, bad field types
            raise ImageConversionError(f"cannot convert the image: {type(exc).__name__}: {exc}") from exc
    return wrapper  # type: ignore[return-value]


def check_size(width: int, height: int, max_pixels: Optional[int]) -> None:
    """Refuse an image whose (declared) size is empty or above ``max_pixels``."""
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(f"image of {width}x{height} pixels is larger than the cap of "
                                   f"{max_pixels} pixels (parameter max_image_pixels)")


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (the key frames are matched by)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@_conversion
def image_to_array(msg: "Image", encoding: str = "", max_pixels: Optional[int] = None) -> np.ndarray:
    """The pixels of ``msg`` as an (H, W) or (H, W, C) array in the message's own layout.

    ``encoding`` overrides ``msg.encoding`` (for drivers that mislabel their images).
    """
    enc = encoding or msg.encoding
    if enc not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {enc!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    dtype, channels, _ = _ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    check_size(w, h, max_pixels)
    if enc in _PAIRED and w % 2:
        raise ImageConversionError(f"{enc} packs two pixels per (U, V) pair: width {w} must be even")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} is smaller than a {w}-pixel {enc} row ({row_bytes} bytes)")
    if len(msg.data) != step * h:
        raise ImageConversionError(f"data has {len(msg.data)} bytes, expected step*height = {step}*{h} = {step * h}")
    if step % dtype.itemsize:
        raise ImageConversionError(f"step {step} is not a multiple of the {dtype.itemsize}-byte {enc} element")
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    rows = np.ascontiguousarray(buf.reshape(h, step)[:, :row_bytes])
    # View in the message's byte order, then convert to native values.
    arr = rows.view(dtype.newbyteorder(">" if msg.is_bigendian else "<")).astype(dtype)
    return arr.reshape(h, w, channels) if channels > 1 else arr.reshape(h, w)


@_conversion
def image_to_rgb(msg: "Image", encoding: str = "", max_pixels: Optional[int] = None) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame for the tracker. 16-bit images are scaled to 8 bits
    by /256 (as cv_bridge's 16->8 conversion), not per-frame normalised, so brightness
    stays comparable from frame to frame."""
    enc = encoding or msg.encoding
    arr = image_to_array(msg, encoding, max_pixels)
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    code = _ENCODINGS[enc][2]
    rgb = arr if code is None else cv2.cvtColor(arr, code)
    return np.ascontiguousarray(rgb)


@_conversion
def compressed_to_rgb(msg: "CompressedImage", max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode a jpeg/png ``CompressedImage`` into an (H, W, 3) uint8 RGB frame.

    The size is read from the header (Pillow reads only that) and checked against
    ``max_pixels`` first: a small file can claim a huge image."""
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError("compressed image has no data")
    w, h = _header_size(data)
    check_size(w, h, max_pixels)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"cannot decode compressed image (format {msg.format!r}, {data.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _header_size(data: np.ndarray) -> Tuple[int, int]:
    """(width, height) that a compressed image's header declares, without decoding it."""
    from PIL import Image as PILImage

    PILImage.MAX_IMAGE_PIXELS = None  # the caller's cap decides, not Pillow's warning
    try:
        with PILImage.open(io.BytesIO(data.tobytes())) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception as exc:  # UnidentifiedImageError, truncated headers ...
        raise ImageConversionError(f"cannot decode compressed image: no readable jpeg/png header in its "
                                   f"{data.size} bytes ({type(exc).__name__})") from exc


def rgb_to_image(rgb: np.ndarray, header, encoding: str = "rgb8") -> "Image":
    """An ``Image`` of an (H, W, 3) uint8 RGB array, as ``rgb8`` or ``bgr8``, with ``header``."""
    from sensor_msgs.msg import Image
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageConversionError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    if encoding == "bgr8":
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding != "rgb8":
        raise ImageConversionError(f"output encoding must be rgb8 or bgr8, not {encoding!r}")
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb).tobytes()  # bytes: much faster than assigning an array
    return msg
