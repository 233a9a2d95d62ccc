"""Cut many box-aligned crops from one frame in a single batched device op.

A crop covers the box enlarged so that the box fills ``crop_size - 2 * padding`` pixels
of the ``crop_size`` output (the py-MDNet context), sampled bilinearly. Pixels outside
the frame read as mid-grey (128), as py-MDNet's crops do.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def frame_to_tensor(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 (or HxW) uint8 RGB -> (1, 3, H, W) float32 on ``device``, centred at 128."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(frame)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().sub_(128.0)


def context_regions(boxes: np.ndarray, crop_size: int, padding: int) -> np.ndarray:
    """The frame regions (x, y, w, h) that the crops of ``boxes`` cover."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    factor = crop_size / (crop_size - 2 * padding)
    size = b[:, 2:] * factor
    return np.concatenate([b[:, :2] + b[:, 2:] / 2 - size / 2, size], axis=1)


def extract_crops(frame_t: torch.Tensor, boxes: np.ndarray, crop_size: int, padding: int) -> torch.Tensor:
    """Crops of all ``boxes`` as uint8 (N, 3, S, S) on the frame's device."""
    if len(boxes) == 0:
        return torch.zeros((0, 3, crop_size, crop_size), dtype=torch.uint8, device=frame_t.device)
    return resample_regions(frame_t, context_regions(boxes, crop_size, padding), crop_size, crop_size)


def resample_regions(frame_t: torch.Tensor, regions: np.ndarray, out_w: int, out_h: int) -> torch.Tensor:
    """Frame regions (x, y, w, h) resampled to uint8 (N, 3, out_h, out_w), bilinearly.

    One ``grid_sample`` call: the N sampling grids are stacked along the height axis, so
    the frame is read once and no per-crop Python work happens.
    """
    n = len(regions)
    _, _, h, w = frame_t.shape
    reg = torch.as_tensor(np.asarray(regions).reshape(-1, 4), dtype=torch.float32, device=frame_t.device)
    sx = (torch.arange(out_w, device=frame_t.device, dtype=torch.float32) + 0.5) / out_w
    sy = (torch.arange(out_h, device=frame_t.device, dtype=torch.float32) + 0.5) / out_h
    xs = reg[:, 0:1] + sx[None, :] * reg[:, 2:3]           # (N, out_w) sample x in pixels
    ys = reg[:, 1:2] + sy[None, :] * reg[:, 3:4]           # (N, out_h)
    gx = (2.0 * xs / w - 1.0)[:, None, :].expand(n, out_h, out_w)   # align_corners=False
    gy = (2.0 * ys / h - 1.0)[:, :, None].expand(n, out_h, out_w)
    grid = torch.stack([gx, gy], dim=-1).reshape(1, n * out_h, out_w, 2)
    out = F.grid_sample(frame_t, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.view(3, n, out_h, out_w).permute(1, 0, 2, 3)
    return out.add(128.0).round_().clamp_(0, 255).to(torch.uint8)


def paste_map(crop_map: np.ndarray, box, crop_size: int, padding: int, image_shape) -> np.ndarray:
    """Warp a (S, S) map defined on the crop of ``box`` back into an (H, W) frame map."""
    import cv2

    x, y, w, h = context_regions(np.asarray(box)[None], crop_size, padding)[0]
    sx, sy = w / crop_size, h / crop_size
    m = np.array([[sx, 0, x], [0, sy, y]], dtype=np.float64)
    # warpAffine maps dst pixel centres; shift by half a pixel on both sides.
    m[:, 2] += 0.5 * np.array([sx, sy]) - 0.5
    H, W = image_shape[:2]
    return cv2.warpAffine(crop_map.astype(np.float32), m, (W, H), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
