"""MASK nodes computed for real with numpy (masks are float32 [B, H, W] in 0..1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import NodeTable
from .resample import resize
from .values import Array, get_bool, get_float, get_image, get_int, get_mask, get_str

__all__ = ["TABLE", "grow", "image_of_mask"]

TABLE = NodeTable(real=True)

CHANNELS = ("red", "green", "blue", "alpha")


@TABLE.compute("SolidMask")
def solid_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    shape = (1, get_int(inputs, "height", 512), get_int(inputs, "width", 512))
    return (np.full(shape, get_float(inputs, "value", 1.0), dtype=np.float32),)


@TABLE.compute("InvertMask")
def invert_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (np.float32(1.0) - get_mask(inputs, "mask"),)


@TABLE.compute("ImageToMask")
def image_to_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    channel = get_str(inputs, "channel", "red")
    if channel not in CHANNELS:
        raise ValueError(f"{channel!r} is not in list")
    index = CHANNELS.index(channel)
    if index >= image.shape[3]:
        # torch's wording, which is what ComfyUI reports for an alpha channel asked of an RGB image
        raise IndexError(f"index {index} is out of bounds for dimension 3 with size {image.shape[3]}")
    return (image[:, :, :, index].copy(),)


def image_of_mask(mask: Array) -> Array:
    """A mask as a grey RGB image [B, H, W, 3]."""
    planes = mask.reshape(-1, mask.shape[-2], mask.shape[-1], 1)
    return np.repeat(planes, 3, axis=-1).astype(np.float32)


@TABLE.compute("MaskToImage")
def mask_to_image(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (image_of_mask(get_mask(inputs, "mask")),)


@TABLE.compute("MaskComposite")
def mask_composite(inputs: dict[str, Any]) -> tuple[Any, ...]:
    out = get_mask(inputs, "destination").copy()
    source = get_mask(inputs, "source")
    x, y = get_int(inputs, "x", 0), get_int(inputs, "y", 0)
    operation = get_str(inputs, "operation", "multiply")
    right, bottom = min(x + source.shape[-1], out.shape[-1]), min(y + source.shape[-2], out.shape[-2])
    if right > x and bottom > y:
        src = source[:, : bottom - y, : right - x]
        dst = out[:, y:bottom, x:right]
        if operation == "multiply":
            result = dst * src
        elif operation == "add":
            result = dst + src
        elif operation == "subtract":
            result = dst - src
        elif operation in ("and", "or", "xor"):
            a, b = np.round(dst) != 0, np.round(src) != 0
            logic = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}[operation]
            result = logic(a, b).astype(np.float32)
        else:
            raise ValueError(f"unknown operation {operation!r}; expected multiply, add, subtract, and, or, xor")
        if result.shape[0] != out.shape[0]:
            out = np.broadcast_to(out, (max(result.shape[0], out.shape[0]), *out.shape[1:])).copy()
        out[:, y:bottom, x:right] = result
    return (np.clip(out, 0.0, 1.0).astype(np.float32),)


def grow(mask: Array, expand: int, tapered_corners: bool) -> Array:
    """Dilate (expand > 0) or erode (expand < 0) each mask by |expand| pixels with a 3×3 (or cross) footprint."""
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if not (tapered_corners and dy != 0 and dx != 0)]
    reduce = np.maximum if expand > 0 else np.minimum
    out = mask.astype(np.float32, copy=True)
    height, width = out.shape[-2], out.shape[-1]
    for _ in range(abs(expand)):
        padded = np.pad(out, ((0, 0), (1, 1), (1, 1)), mode="edge")
        result = out.copy()
        for dy, dx in offsets:
            result = reduce(result, padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width])
        out = result
    return out


@TABLE.compute("GrowMask")
def grow_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    mask = get_mask(inputs, "mask")
    return (grow(mask, get_int(inputs, "expand", 0), get_bool(inputs, "tapered_corners", True)),)


@TABLE.compute("ThresholdMask")
def threshold_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return ((get_mask(inputs, "mask") > get_float(inputs, "value", 0.5)).astype(np.float32),)


@TABLE.compute("CropMask")
def crop_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    mask = get_mask(inputs, "mask")
    x, y = get_int(inputs, "x", 0), get_int(inputs, "y", 0)
    return (mask[:, y : y + get_int(inputs, "height", 512), x : x + get_int(inputs, "width", 512)].copy(),)


@TABLE.compute("FeatherMask")
def feather_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    out = get_mask(inputs, "mask").copy()
    height, width = out.shape[-2], out.shape[-1]
    left, right = min(get_int(inputs, "left", 0), width), min(get_int(inputs, "right", 0), width)
    top, bottom = min(get_int(inputs, "top", 0), height), min(get_int(inputs, "bottom", 0), height)
    for i in range(left):
        out[:, :, i] *= (i + 1) / left
    for i in range(right):
        out[:, :, width - 1 - i] *= (i + 1) / right
    for i in range(top):
        out[:, i, :] *= (i + 1) / top
    for i in range(bottom):
        out[:, height - 1 - i, :] *= (i + 1) / bottom
    return (out,)


@TABLE.compute("ImageColorToMask")
def image_color_to_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = np.round(np.clip(get_image(inputs, "image"), 0.0, 1.0) * 255).astype(np.int64)
    packed = (image[..., 0] << 16) + (image[..., 1] << 8) + image[..., 2]
    return ((packed == get_int(inputs, "color", 0)).astype(np.float32),)


@TABLE.compute("JoinImageWithAlpha")
def join_image_with_alpha(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image, alpha = get_image(inputs, "image"), get_mask(inputs, "alpha")
    planes = resize(alpha[..., None], image.shape[2], image.shape[1], "bilinear")
    if planes.shape[0] != image.shape[0]:
        planes = np.resize(planes, (image.shape[0], *planes.shape[1:]))
    return (np.concatenate([image[..., :3], np.float32(1.0) - planes], axis=-1),)


@TABLE.compute("SplitImageWithAlpha")
def split_image_with_alpha(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    alpha = image[..., 3] if image.shape[-1] > 3 else np.ones(image.shape[:3], dtype=np.float32)
    return (image[..., :3].copy(), np.float32(1.0) - alpha)
