"""LATENT nodes computed for real: empty (image and video) latents, resizing, batches, masks and arithmetic.

A LATENT is a dict {"samples": float32 [B, C, h, w] or, for video, [B, C, T, h, w], ...}; extra keys
(noise_mask, batch_index, and the sim's own `sim_*` keys) travel along.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .picture import LATENT_CHANNELS, encode
from .registry import NodeTable
from .resample import upscale
from .values import Array, get_bool, get_float, get_image, get_int, get_latent, get_mask, get_str

__all__ = ["CLEAN_KEY", "START_FRAME_KEY", "TABLE", "VIDEO_SCALE_KEY", "empty_video_latent", "make_latent"]

TABLE = NodeTable(real=True)

CLEAN_KEY = "sim_clean"  # extra LATENT key: the clean estimate behind a latent returned with leftover noise


def make_latent(samples: Array, like: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A LATENT dict holding `samples`, keeping the other keys of `like` (noise_mask, batch_index, …)."""
    out = {k: v for k, v in (like or {}).items() if k not in ("samples", CLEAN_KEY)}
    out["samples"] = samples.astype(np.float32, copy=False)
    out.update(extra)
    return out


@TABLE.compute("EmptyLatentImage", inline=True)
def empty_latent_image(inputs: dict[str, Any]) -> tuple[Any, ...]:
    width, height = get_int(inputs, "width", 512), get_int(inputs, "height", 512)
    shape = (get_int(inputs, "batch_size", 1), LATENT_CHANNELS, height // 8, width // 8)
    return (make_latent(np.zeros(shape, dtype=np.float32)),)


@TABLE.compute("EmptySD3LatentImage", inline=True)
def empty_sd3_latent_image(inputs: dict[str, Any]) -> tuple[Any, ...]:
    width, height = get_int(inputs, "width", 1024), get_int(inputs, "height", 1024)
    shape = (get_int(inputs, "batch_size", 1), 16, height // 8, width // 8)
    return (make_latent(np.zeros(shape, dtype=np.float32)),)


def _resize_latent(samples: Array, width: int, height: int, method: str, crop: str = "disabled") -> Array:
    planes = np.ascontiguousarray(samples.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(upscale(planes, width, height, method, crop).transpose(0, 3, 1, 2))


@TABLE.compute("LatentUpscale")
def latent_upscale(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent = get_latent(inputs, "samples")
    samples = latent["samples"]
    width, height = get_int(inputs, "width", 512) // 8, get_int(inputs, "height", 512) // 8
    if width == 0 and height == 0:
        return (latent,)
    method, crop = get_str(inputs, "upscale_method", "nearest-exact"), get_str(inputs, "crop", "disabled")
    return (make_latent(_resize_latent(samples, width, height, method, crop), latent),)


@TABLE.compute("LatentUpscaleBy")
def latent_upscale_by(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent = get_latent(inputs, "samples")
    samples = latent["samples"]
    scale = get_float(inputs, "scale_by", 1.5)
    width, height = round(samples.shape[-1] * scale), round(samples.shape[-2] * scale)
    method = get_str(inputs, "upscale_method", "nearest-exact")
    return (make_latent(_resize_latent(samples, width, height, method), latent),)


@TABLE.compute("LatentFromBatch", inline=True)
def latent_from_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent = get_latent(inputs, "samples")
    samples = latent["samples"]
    start = min(samples.shape[0] - 1, get_int(inputs, "batch_index", 0))
    length = min(samples.shape[0] - start, get_int(inputs, "length", 1))
    return (make_latent(samples[start : start + length].copy(), latent),)


@TABLE.compute("RepeatLatentBatch", inline=True)
def repeat_latent_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent = get_latent(inputs, "samples")
    return (make_latent(np.concatenate([latent["samples"]] * get_int(inputs, "amount", 1)), latent),)


@TABLE.compute("LatentBatch", inline=True)
def latent_batch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    first, second = get_latent(inputs, "samples1")["samples"], get_latent(inputs, "samples2")["samples"]
    if first.shape[1:] != second.shape[1:]:
        second = _resize_latent(second, first.shape[-1], first.shape[-2], "bilinear", "center")
    return (make_latent(np.concatenate([first, second])),)


@TABLE.compute("SetLatentNoiseMask", inline=True)
def set_latent_noise_mask(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent = get_latent(inputs, "samples")
    mask = get_mask(inputs, "mask")
    return (make_latent(latent["samples"], latent, noise_mask=mask),)


def _samples(inputs: dict[str, Any], name: str) -> tuple[dict[str, Any], Array]:
    latent = get_latent(inputs, name)
    return latent, latent["samples"].astype(np.float32, copy=False)


def _matched(reference: Array, other: Array) -> Array:
    if other.shape[-2:] != reference.shape[-2:]:
        other = _resize_latent(other, reference.shape[-1], reference.shape[-2], "bilinear", "center")
    if other.shape[0] != reference.shape[0]:
        other = np.resize(other, (reference.shape[0], *other.shape[1:]))
    return other


def _binary(class_type: str, combine: Any) -> None:
    @TABLE.compute(class_type, inline=True)
    def run(inputs: dict[str, Any]) -> tuple[Any, ...]:
        latent, first = _samples(inputs, "samples1")
        _, second = _samples(inputs, "samples2")
        return (make_latent(combine(first, _matched(first, second), inputs).astype(np.float32), latent),)


_binary("LatentAdd", lambda a, b, _: a + b)
_binary("LatentSubtract", lambda a, b, _: a - b)
_binary(
    "LatentBlend", lambda a, b, i: a * get_float(i, "blend_factor", 0.5) + b * (1 - get_float(i, "blend_factor", 0.5))
)


def _unit(values: Array, norms: Array) -> Array:
    out: Array = np.divide(values, norms, out=np.zeros_like(values), where=norms != 0)
    return out


def _interpolate(a: Array, b: Array, inputs: dict[str, Any]) -> Array:
    ratio = get_float(inputs, "ratio", 1.0)
    norm_a = np.linalg.norm(a, axis=1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=1, keepdims=True)
    mixed = _unit(a, norm_a) * ratio + _unit(b, norm_b) * (1 - ratio)
    unit = _unit(mixed, np.linalg.norm(mixed, axis=1, keepdims=True))
    out: Array = (unit * (norm_a * ratio + norm_b * (1 - ratio))).astype(np.float32)
    return out


_binary("LatentInterpolate", _interpolate)


@TABLE.compute("LatentMultiply", inline=True)
def latent_multiply(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    return (make_latent(samples * np.float32(get_float(inputs, "multiplier", 1.0)), latent),)


@TABLE.compute("LatentFlip", inline=True)
def latent_flip(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    axis = 2 if get_str(inputs, "flip_method", "x-axis: vertically").startswith("x-axis") else 3
    return (make_latent(np.flip(samples, axis=axis).copy(), latent),)


@TABLE.compute("LatentRotate", inline=True)
def latent_rotate(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    turns = {"90": 1, "180": 2, "270": 3}.get(get_str(inputs, "rotation", "none").split(" ")[0], 0)
    return (make_latent(np.ascontiguousarray(np.rot90(samples, k=turns, axes=(3, 2))), latent),)


@TABLE.compute("LatentCrop", inline=True)
def latent_crop(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    height, width = samples.shape[-2], samples.shape[-1]
    x = min(get_int(inputs, "x", 0) // 8, width - 8) if width > 8 else 0
    y = min(get_int(inputs, "y", 0) // 8, height - 8) if height > 8 else 0
    crop_w, crop_h = get_int(inputs, "width", 512) // 8, get_int(inputs, "height", 512) // 8
    return (make_latent(samples[:, :, y : y + crop_h, x : x + crop_w].copy(), latent),)


@TABLE.compute("LatentComposite", inline=True)
def latent_composite(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, target = _samples(inputs, "samples_to")
    _, source = _samples(inputs, "samples_from")
    out = target.copy()
    x, y = get_int(inputs, "x", 0) // 8, get_int(inputs, "y", 0) // 8
    height, width = min(source.shape[-2], out.shape[-2] - y), min(source.shape[-1], out.shape[-1] - x)
    if height > 0 and width > 0:
        src = np.resize(source, (out.shape[0], *source.shape[1:]))
        channels = min(out.shape[1], src.shape[1])
        out[:, :channels, y : y + height, x : x + width] = src[:, :channels, :height, :width]
    return (make_latent(out, latent),)


@TABLE.compute("LatentCompositeMasked", inline=True)
def latent_composite_masked(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, target = _samples(inputs, "destination")
    _, source = _samples(inputs, "source")
    out = target.copy()
    if get_bool(inputs, "resize_source", False):
        source = _resize_latent(source, out.shape[-1], out.shape[-2], "bilinear")
    source = np.resize(source, (out.shape[0], *source.shape[1:]))
    x, y = get_int(inputs, "x", 0) // 8, get_int(inputs, "y", 0) // 8
    height, width = min(source.shape[-2], out.shape[-2] - y), min(source.shape[-1], out.shape[-1] - x)
    if height <= 0 or width <= 0:
        return (make_latent(out, latent),)
    weight = np.ones((out.shape[0], 1, height, width), dtype=np.float32)
    if inputs.get("mask") is not None:
        mask = get_mask(inputs, "mask")
        planes = upscale(mask[..., None], source.shape[-1], source.shape[-2], "bilinear", "disabled")
        weight = np.resize(planes.transpose(0, 3, 1, 2), (out.shape[0], 1, *planes.shape[1:3]))[..., :height, :width]
    channels = min(out.shape[1], source.shape[1])
    region = out[:, :channels, y : y + height, x : x + width]
    out[:, :channels, y : y + height, x : x + width] = source[:, :channels, :height, :width] * weight + region * (
        1 - weight
    )
    return (make_latent(out, latent),)


VIDEO_SCALE_KEY = "sim_video_scale"  # extra LATENT key of video latents: (temporal, spatial) compression
START_FRAME_KEY = "sim_start_frame"  # extra LATENT key: the encoded start image a video begins with

# class → (channels, temporal compression, spatial compression), as the real video VAEs have them
_VIDEO_LATENTS = {
    "EmptyHunyuanLatentVideo": (16, 4, 8),
    "EmptyMochiLatentVideo": (12, 6, 8),
    "EmptyCosmosLatentVideo": (16, 8, 8),
    "EmptyLTXVLatentVideo": (128, 8, 32),
    "Wan22ImageToVideoLatent": (48, 4, 16),
    "WanImageToVideo": (16, 4, 8),
    "HunyuanImageToVideo": (16, 4, 8),
}


def empty_video_latent(class_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The zero video latent [B, C, T, h, w] a video model's empty-latent (or image-to-video) node makes.

    With a `start_image` input the encoded first frame rides along, and the sampler starts the video from it.
    """
    channels, temporal, spatial = _VIDEO_LATENTS[class_type]
    width, height = get_int(inputs, "width", 848), get_int(inputs, "height", 480)
    frames = (get_int(inputs, "length", 25) - 1) // temporal + 1
    shape = (get_int(inputs, "batch_size", 1), channels, frames, height // spatial, width // spatial)
    extra: dict[str, Any] = {VIDEO_SCALE_KEY: (temporal, spatial)}
    if inputs.get("start_image") is not None:
        start = upscale(get_image(inputs, "start_image")[:1], width, height, "bilinear", "center")
        extra[START_FRAME_KEY] = encode(start, channels, spatial)
    return make_latent(np.zeros(shape, dtype=np.float32), **extra)


def _video_latent_node(class_type: str) -> None:
    @TABLE.compute(class_type, inline=True)
    def run(inputs: dict[str, Any]) -> tuple[Any, ...]:
        return (empty_video_latent(class_type, inputs),)


for _class_type in (
    "EmptyHunyuanLatentVideo",
    "EmptyMochiLatentVideo",
    "EmptyCosmosLatentVideo",
    "EmptyLTXVLatentVideo",
    "Wan22ImageToVideoLatent",
):
    _video_latent_node(_class_type)


@TABLE.compute("TrimVideoLatent", inline=True)
def trim_video_latent(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    return (make_latent(samples[:, :, get_int(inputs, "trim_amount", 0) :].copy(), latent),)


_AXES = {"x": -1, "y": -2, "t": -3}


@TABLE.compute("LatentConcat", inline=True)
def latent_concat(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, first = _samples(inputs, "samples1")
    _, second = _samples(inputs, "samples2")
    direction = get_str(inputs, "dim", "x")
    axis = _AXES[direction.lstrip("-")]
    if first.ndim < -axis:
        raise ValueError(f"cannot concatenate along {direction!r}: latent shape {first.shape} has no such axis")
    parts = [first, second] if not direction.startswith("-") else [second, first]
    return (make_latent(np.concatenate(parts, axis=axis), latent),)


@TABLE.compute("LatentCut", inline=True)
def latent_cut(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    axis = _AXES[get_str(inputs, "dim", "x")]
    if samples.ndim < -axis:
        raise ValueError(f"latent shape {samples.shape} has no {get_str(inputs, 'dim')!r} axis")
    size = samples.shape[axis]
    index = get_int(inputs, "index", 0)
    start = max(0, min(size - 1, index if index >= 0 else size + index))
    stop = min(size, start + get_int(inputs, "amount", 1))
    window = [slice(None)] * samples.ndim
    window[axis] = slice(start, stop)
    return (make_latent(samples[tuple(window)].copy(), latent),)


@TABLE.compute("LatentBatchSeedBehavior", inline=True)
def latent_batch_seed_behavior(inputs: dict[str, Any]) -> tuple[Any, ...]:
    latent, samples = _samples(inputs, "samples")
    out = dict(latent)
    if get_str(inputs, "seed_behavior", "fixed") == "random":
        out.pop("batch_index", None)
    else:
        first = next(iter(latent.get("batch_index", [0])))
        out["batch_index"] = [first] * samples.shape[0]
    return (out,)
