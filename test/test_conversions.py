"""Image conversion against hand-built messages, in the layouts real drivers send."""
import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from rl_tracker_ros.ros.conversions import (ImageConversionError, compressed_to_rgb, image_to_array, image_to_rgb,
                                        rgb_to_image)

RGB = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7  # 2 rows, 3 pixels


def msg(encoding, rows: np.ndarray, pad: int = 0, big: bool = False) -> Image:
    """An Image whose rows are ``rows`` (H, row_bytes) plus ``pad`` junk bytes each."""
    h = rows.shape[0]
    raw = rows.reshape(h, -1).view(np.uint8)
    padded = np.concatenate([raw, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    w = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 2, "16UC1": 2, "yuv422": 2,
         "yuv422_yuy2": 2}[encoding]
    return Image(height=h, width=raw.shape[1] // w, encoding=encoding, is_bigendian=int(big),
                 step=padded.shape[1], data=padded.tobytes())


@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_with_padded_rows(pad):
    bgr = RGB[..., ::-1]
    rgba = np.concatenate([RGB, np.full((2, 3, 1), 9, np.uint8)], axis=2)
    bgra = np.concatenate([bgr, np.full((2, 3, 1), 9, np.uint8)], axis=2)
    for enc, pixels in (("rgb8", RGB), ("bgr8", bgr), ("rgba8", rgba), ("bgra8", bgra)):
        out = image_to_rgb(msg(enc, pixels.reshape(2, -1), pad))
        assert out.shape == (2, 3, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, RGB, err_msg=enc)


def test_mono8_and_mono16_both_byte_orders():
    gray = np.array([[0, 100, 255], [1, 2, 3]], np.uint8)
    out = image_to_rgb(msg("mono8", gray, pad=1))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))
    deep = np.array([[0, 256, 65535], [512, 1024, 4096]], np.uint16)
    for big in (False, True):
        rows = deep.astype(">u2" if big else "<u2")
        m = msg("mono16", rows, pad=2, big=big)
        np.testing.assert_array_equal(image_to_array(m), deep)
        np.testing.assert_array_equal(image_to_rgb(m)[..., 0], (deep >> 8).astype(np.uint8))


def test_yuv422_packings_match_opencv():
    uyvy = np.random.default_rng(1).integers(0, 255, (4, 12), dtype=np.uint8)
    expected = cv2.cvtColor(uyvy.reshape(4, 6, 2), cv2.COLOR_YUV2RGB_UYVY)
    np.testing.assert_array_equal(image_to_rgb(msg("yuv422", uyvy)), expected)
    expected = cv2.cvtColor(uyvy.reshape(4, 6, 2), cv2.COLOR_YUV2RGB_YUYV)
    np.testing.assert_array_equal(image_to_rgb(msg("yuv422_yuy2", uyvy)), expected)


def test_encoding_override_for_mislabelled_cameras():
    m = msg("rgb8", RGB[..., ::-1].reshape(2, -1))  # says rgb8, is bgr8
    np.testing.assert_array_equal(image_to_rgb(m, encoding="bgr8"), RGB)


@pytest.mark.parametrize("change,reason", [
    (dict(encoding="bayer_rggb8"), "unsupported image encoding"),
    (dict(height=0, width=0, step=0, data=b""), "empty image"),
    (dict(step=8), "smaller than"),
    (dict(data=bytes(17)), r"expected step\*height"),
])
def test_malformed_messages_raise_a_clear_error(change, reason):
    m = msg("rgb8", RGB.reshape(2, -1))
    for k, v in change.items():
        setattr(m, k, v)
    with pytest.raises(ImageConversionError, match=reason):
        image_to_rgb(m)


def test_odd_step_for_16_bit_is_refused():
    m = msg("mono16", np.zeros((2, 3), np.uint16), pad=1)
    with pytest.raises(ImageConversionError, match="multiple"):
        image_to_rgb(m)


def test_output_image_round_trip_and_header():
    header = Header(frame_id="cam")
    header.stamp.sec = 7
    for enc in ("rgb8", "bgr8"):
        out = rgb_to_image(RGB, header, enc)
        assert (out.height, out.width, out.step, out.encoding, out.header.frame_id) == (2, 3, 9, enc, "cam")
        np.testing.assert_array_equal(image_to_rgb(out), RGB)
    with pytest.raises(ImageConversionError):
        rgb_to_image(RGB[..., 0], header)


@pytest.mark.parametrize("ext,exact", [(".png", True), (".jpg", False)])
def test_compressed_images(ext, exact):
    rgb = np.random.default_rng(2).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    rgb[:] = cv2.GaussianBlur(rgb, (7, 7), 3)  # smooth, so jpeg is close
    ok, enc = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = compressed_to_rgb(CompressedImage(format=ext[1:], data=enc.tobytes()))
    assert out.shape == rgb.shape
    if exact:
        np.testing.assert_array_equal(out, rgb)
    else:
        assert np.abs(out.astype(int) - rgb).mean() < 8
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg"))
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b""))
