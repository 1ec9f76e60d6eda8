"""IMAGE nodes computed for real with numpy: creation, filters, geometry, batches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .registry import NodeTable
from .resample import gaussian_blur, resize, upscale
from .values import Array, get_float, get_image, get_int, get_mask, get_str

__all__ = ["TABLE", "composite", "rgb_of"]

TABLE = NodeTable(real=True)


def rgb_of(color: int) -> tuple[float, float, float]:
    """A 0xRRGGBB integer as three 0..1 floats."""
    return ((color >> 16) & 0xFF) / 255.0, ((color >> 8) & 0xFF) / 255.0, (color & 0xFF) / 255.0


@TABLE.compute("EmptyImage")
def empty_image(inputs: dict[str, Any]) -> tuple[Any, ...]:
    width, height = get_int(inputs, "width", 512), get_int(inputs, "height", 512)
    batch = get_int(inputs, "batch_size", 1)
    image = np.empty((batch, height, width, 3), dtype=np.float32)
    image[...] = np.asarray(rgb_of(get_int(inputs, "color", 0)), dtype=np.float32)
    return (image,)


@TABLE.compute("ImageBlur")
def image_blur(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    return (gaussian_blur(image, get_int(inputs, "blur_radius", 1), get_float(inputs, "sigma", 1.0)),)


@TABLE.compute("ImageSharpen")
def image_sharpen(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    amount = get_float(inputs, "alpha", 1.0) * 10.0
    blurred = gaussian_blur(image, get_int(inputs, "sharpen_radius", 1), get_float(inputs, "sigma", 1.0))
    return (np.clip(image * np.float32(amount + 1.0) - blurred * np.float32(amount), 0.0, 1.0),)


@TABLE.compute("ImageInvert")
def image_invert(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (np.float32(1.0) - get_image(inputs, "image"),)


@TABLE.compute("ImageScale")
def image_scale(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    method = get_str(inputs, "upscale_method", "nearest-exact")
    width, height = get_int(inputs, "width", 512), get_int(inputs, "height", 512)
    return (upscale(image, width, height, method, get_str(inputs, "crop", "disabled")),)


@TABLE.compute("ImageScaleBy")
def image_scale_by(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    scale = get_float(inputs, "scale_by", 1.0)
    width, height = round(image.shape[2] * scale), round(image.shape[1] * scale)
    return (upscale(image, width, height, get_str(inputs, "upscale_method", "nearest-exact"), "disabled"),)


@TABLE.compute("ImageScaleToTotalPixels")
def image_scale_to_total_pixels(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    total = get_float(inputs, "megapixels", 1.0) * 1024 * 1024
    scale = math.sqrt(total / (image.shape[2] * image.shape[1]))
    width, height = round(image.shape[2] * scale), round(image.shape[1] * scale)
    return (upscale(image, width, height, get_str(inputs, "upscale_method", "nearest-exact"), "disabled"),)


def _repeat_to(batch: Array, size: int) -> Array:
    if batch.shape[0] == size:
        return batch
    reps = math.ceil(size / batch.shape[0])
    return np.concatenate([batch] * reps)[:size]


def composite(destination: Array, source: Array, x: int, y: int, mask: Array | None, resize_source: bool) -> Array:
    """Paste `source` onto a copy of `destination` at (x, y), weighted by `mask` (resized to the source)."""
    out = destination.astype(np.float32, copy=True)
    channels = min(out.shape[-1], source.shape[-1])
    if resize_source:
        source = resize(source, out.shape[2], out.shape[1], "bilinear")
    source = _repeat_to(source, out.shape[0])
    height, width = source.shape[1], source.shape[2]
    if mask is None:
        weight = np.ones((source.shape[0], height, width, 1), dtype=np.float32)
    else:
        planes = mask.reshape(-1, mask.shape[-2], mask.shape[-1], 1)
        weight = _repeat_to(resize(planes, width, height, "bilinear"), source.shape[0])
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + width, out.shape[2]), min(y + height, out.shape[1])
    if right <= left or bottom <= top:
        return out
    src = source[:, top - y : bottom - y, left - x : right - x, :channels]
    w = weight[:, top - y : bottom - y, left - x : right - x]
    region = out[:, top:bottom, left:right, :channels]
    out[:, top:bottom, left:right, :channels] = src * w + region * (np.float32(1.0) - w)
    return out


@TABLE.compute("ImageCompositeMasked")
def image_composite_masked(inputs: dict[str, Any]) -> tuple[Any, ...]:
    destination, source = get_image(inputs, "destination"), get_image(inputs, "source")
    mask = get_mask(inputs, "mask") if inputs.get("mask") is not None else None
    resize_source = bool(inputs.get("resize_source", False))
    return (composite(destination, source, get_int(inputs, "x", 0), get_int(inputs, "y", 0), mask, resize_source),)


@TABLE.compute("ImageBatch")
def image_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    first, second = get_image(inputs, "image1"), get_image(inputs, "image2")
    if first.shape[1:3] != second.shape[1:3]:
        second = upscale(second, first.shape[2], first.shape[1], "bilinear", "center")
    channels = min(first.shape[-1], second.shape[-1])
    return (np.concatenate([first[..., :channels], second[..., :channels]]),)


@TABLE.compute("ImageCrop")
def image_crop(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    width, height = get_int(inputs, "width", 512), get_int(inputs, "height", 512)
    x = min(get_int(inputs, "x", 0), image.shape[2] - 1)
    y = min(get_int(inputs, "y", 0), image.shape[1] - 1)
    return (image[:, y : y + height, x : x + width].copy(),)


@TABLE.compute("GetImageSize", inline=True)
def get_image_size(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    return (int(image.shape[2]), int(image.shape[1]), int(image.shape[0]))


@TABLE.compute("ImageFlip")
def image_flip(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    axis = 1 if get_str(inputs, "flip_method").startswith("x-axis") else 2
    return (np.flip(image, axis=axis).copy(),)


@TABLE.compute("ImageRotate")
def image_rotate(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    turns = {"90": 1, "180": 2, "270": 3}.get(get_str(inputs, "rotation", "none").split(" ")[0], 0)
    return (np.ascontiguousarray(np.rot90(image, k=turns, axes=(2, 1))),)


@TABLE.compute("RepeatImageBatch")
def repeat_image_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (np.concatenate([get_image(inputs, "image")] * get_int(inputs, "amount", 1)),)


@TABLE.compute("ImageFromBatch")
def image_from_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    start = min(image.shape[0] - 1, get_int(inputs, "batch_index", 0))
    length = min(image.shape[0] - start, get_int(inputs, "length", 1))
    return (image[start : start + length].copy(),)


@TABLE.compute("ImageAddNoise")
def image_add_noise(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    noise = np.random.default_rng(get_int(inputs, "seed", 0)).standard_normal(image.shape, dtype=np.float32)
    return (np.clip(image + np.float32(get_float(inputs, "strength", 0.5)) * noise, 0.0, 1.0),)


def _blend(base: Array, top: Array, mode: str) -> Array:
    if mode == "normal":
        return top
    if mode == "multiply":
        return base * top
    if mode == "screen":
        return 1 - (1 - base) * (1 - top)
    if mode == "overlay":
        return np.where(base <= 0.5, 2 * base * top, 1 - 2 * (1 - base) * (1 - top))
    if mode == "soft_light":
        lifted = np.where(base <= 0.25, ((16 * base - 12) * base + 4) * base, np.sqrt(base))
        return np.where(top <= 0.5, base - (1 - 2 * top) * base * (1 - base), base + (2 * top - 1) * (lifted - base))
    if mode == "difference":
        return base - top
    raise ValueError(f"Unsupported blend mode: {mode}")


@TABLE.compute("ImageBlend")
def image_blend(inputs: dict[str, Any]) -> tuple[Any, ...]:
    first, second = get_image(inputs, "image1"), get_image(inputs, "image2")
    if first.shape != second.shape:
        second = upscale(second, first.shape[2], first.shape[1], "bicubic", "center")
    factor = np.float32(get_float(inputs, "blend_factor", 0.5))
    blended = _blend(first, second, get_str(inputs, "blend_mode", "normal"))
    return (np.clip(first * (1 - factor) + blended * factor, 0.0, 1.0).astype(np.float32),)
