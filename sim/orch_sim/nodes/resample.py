"""Resampling and blurring of [B, H, W, C] arrays, with the semantics of ComfyUI's `common_upscale`.

Every method except lanczos is a separable linear map, built here as one (out, in) weight matrix per axis
with half-pixel centres (torch's `align_corners=False`): nearest-exact, bilinear (no antialias), area
(adaptive average pooling) and bicubic (a = -0.75). Lanczos goes through Pillow on 8-bit frames, as ComfyUI does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .values import Array, to_uint8

__all__ = ["UPSCALE_METHODS", "center_crop", "gaussian_blur", "resize", "upscale"]

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos", "bislerp")


def _cubic(t: NDArray[np.float64], a: float = -0.75) -> NDArray[np.float64]:
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _nearest(size_in: int, size_out: int) -> NDArray[np.intp]:
    """The source index of each output pixel under nearest-exact (the centre of the pixel, rounded down)."""
    centres = (np.arange(size_out) + 0.5) * (size_in / size_out)
    picked: NDArray[np.intp] = np.minimum(np.floor(centres).astype(np.intp), size_in - 1)
    return picked


def _weights(size_in: int, size_out: int, method: str) -> NDArray[np.float32]:
    matrix = np.zeros((size_out, size_in), dtype=np.float64)
    rows = np.arange(size_out)
    scale = size_in / size_out
    if method == "nearest-exact":
        matrix[rows, _nearest(size_in, size_out)] = 1.0
    elif method == "area":
        for row in rows:
            start = math.floor(row * size_in / size_out)
            end = math.ceil((row + 1) * size_in / size_out)
            matrix[row, start:end] = 1.0 / (end - start)
    elif method == "bicubic":
        source = (rows + 0.5) * scale - 0.5
        base = np.floor(source).astype(int)
        frac = source - base
        for tap in range(-1, 3):
            np.add.at(matrix, (rows, np.clip(base + tap, 0, size_in - 1)), _cubic(frac - tap))
    elif method in ("bilinear", "bislerp"):
        source = np.maximum((rows + 0.5) * scale - 0.5, 0.0)
        low = np.minimum(np.floor(source).astype(int), size_in - 1)
        high = np.minimum(low + 1, size_in - 1)
        frac = source - low
        np.add.at(matrix, (rows, low), 1.0 - frac)
        np.add.at(matrix, (rows, high), frac)
    else:
        raise ValueError(f"unknown upscale_method {method!r}; expected one of {', '.join(UPSCALE_METHODS)}")
    return matrix.astype(np.float32)


def resize(images: Array, width: int, height: int, method: str) -> Array:
    """Resize a [B, H, W, C] batch to `width` × `height` with one of `UPSCALE_METHODS`."""
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize to {width}x{height}")
    size_h, size_w, channels = images.shape[1:]
    if (size_w, size_h) == (width, height):
        return images.astype(np.float32, copy=True)
    if method == "lanczos":
        frames = []
        for frame in images:
            planes = [
                np.asarray(Image.fromarray(to_uint8(frame[..., c])).resize((width, height), Image.Resampling.LANCZOS))
                for c in range(channels)
            ]
            frames.append(np.stack(planes, axis=-1))
        return (np.stack(frames).astype(np.float32) / np.float32(255.0)).astype(np.float32)
    if method == "nearest-exact":  # picks pixels: a gather, not two matrix products over the whole image
        return np.ascontiguousarray(images[:, _nearest(size_h, height)][:, :, _nearest(size_w, width)], np.float32)
    rows = _weights(size_h, height, method)
    cols = _weights(size_w, width, method)
    planar = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    out = rows @ planar @ cols.T
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1)).astype(np.float32, copy=False)


def center_crop(images: Array, width: int, height: int) -> Array:
    """Cut the largest centred region of the target aspect ratio out of a [B, H, W, C] batch."""
    size_h, size_w = images.shape[1], images.shape[2]
    old_aspect = size_w / size_h
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((size_w - size_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((size_h - size_h * (old_aspect / new_aspect)) / 2)
    return images[:, y : size_h - y, x : size_w - x]


def upscale(images: Array, width: int, height: int, method: str, crop: str) -> Array:
    """ComfyUI's ImageScale: 0 for one side keeps the aspect ratio, 0 for both returns the input unchanged."""
    if crop not in ("disabled", "center"):
        raise ValueError(f"unknown crop {crop!r}; expected 'disabled' or 'center'")
    size_h, size_w = images.shape[1], images.shape[2]
    if width == 0 and height == 0:
        return images
    if width == 0:
        width = max(1, round(size_w * height / size_h))
    elif height == 0:
        height = max(1, round(size_h * width / size_w))
    if crop == "center":
        images = center_crop(images, width, height)
    return resize(images, width, height, method)


def _gaussian_taps(radius: int, sigma: float) -> NDArray[np.float32]:
    # ComfyUI's kernel spans [-1, 1] over 2r+1 taps, so `sigma` is relative to the radius; the 2-D kernel
    # exp(-(x² + y²) / 2σ²) is the outer product of this 1-D one, hence the separable passes.
    positions = np.linspace(-1.0, 1.0, 2 * radius + 1)
    taps = np.exp(-(positions * positions) / (2.0 * sigma * sigma))
    normalized: NDArray[np.float32] = (taps / taps.sum()).astype(np.float32)
    return normalized


def gaussian_blur(images: Array, radius: int, sigma: float) -> Array:
    """Blur a [B, H, W, C] batch with ComfyUI ImageBlur's kernel and reflected borders."""
    if radius <= 0:
        return images
    taps = _gaussian_taps(radius, sigma)
    out = images.astype(np.float32, copy=True)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        size = out.shape[axis]
        acc = np.zeros_like(out)
        for index, weight in enumerate(taps):
            window = [slice(None)] * 4
            window[axis] = slice(index, index + size)
            acc += weight * padded[tuple(window)]
        out = acc
    return out
