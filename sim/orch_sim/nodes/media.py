"""Animated images, "video" and latent files: SaveAnimatedWEBP/PNG, CreateVideo, SaveVideo, SaveWEBM, SaveLatent.

UI shapes: `{"images": [file], "animated": [bool]}` for animations and video, `{"latents": [file]}` for
SaveLatent, each file `{"filename", "subfolder", "type": "output"}`. No video encoder is available here, so
SaveVideo and SaveWEBM write animated WEBP files (extension `.webp`) instead of mp4/webm.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .context import NodeContext, NodeResult
from .files import save_target
from .io import png_metadata
from .registry import NodeTable
from .values import (
    Array,
    SimVideo,
    get_bool,
    get_float,
    get_image,
    get_int,
    get_latent,
    get_str,
    get_value,
    pil_from_image,
)

__all__ = ["TABLE", "safetensors_bytes"]

TABLE = NodeTable(real=True)


def _save_animation(
    images: Array, root: Path, prefix: str, extension: str, save_options: dict[str, Any]
) -> list[dict[str, str]]:
    target = save_target(root, prefix, images.shape[2], images.shape[1])
    frames = [pil_from_image(frame) for frame in images]
    name = target.file_name(0, extension)
    frames[0].save(target.folder / name, save_all=True, append_images=frames[1:], **save_options)
    return [{"filename": name, "subfolder": target.subfolder, "type": "output"}]


def _webp_options(ctx: NodeContext, fps: float, lossless: bool, quality: int, method: int) -> dict[str, Any]:
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(ctx.prompt)
    for offset, (key, value) in enumerate((ctx.extra_pnginfo or {}).items()):
        exif[0x010F - offset] = f"{key}:{json.dumps(value)}"
    duration = int(1000.0 / fps)
    return {"duration": duration, "lossless": lossless, "quality": quality, "method": method, "exif": exif}


@TABLE.node("SaveAnimatedWEBP")
async def save_animated_webp(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images = get_image(inputs, "images")
    method = {"default": 4, "fastest": 0, "slowest": 6}.get(get_str(inputs, "method", "default"), 4)
    options = _webp_options(
        ctx, get_float(inputs, "fps", 6.0), get_bool(inputs, "lossless", True), get_int(inputs, "quality", 80), method
    )
    prefix = get_str(inputs, "filename_prefix", "ComfyUI")
    results = await asyncio.to_thread(_save_animation, images, ctx.dirs.output, prefix, "webp", options)
    return NodeResult((), {"images": results, "animated": [images.shape[0] != 1]})


@TABLE.node("SaveAnimatedPNG")
async def save_animated_png(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images = get_image(inputs, "images")
    options = {
        "pnginfo": png_metadata(ctx.prompt, ctx.extra_pnginfo),
        "compress_level": get_int(inputs, "compress_level", 4),
        "duration": int(1000.0 / get_float(inputs, "fps", 6.0)),
    }
    prefix = get_str(inputs, "filename_prefix", "ComfyUI")
    results = await asyncio.to_thread(_save_animation, images, ctx.dirs.output, prefix, "png", options)
    return NodeResult((), {"images": results, "animated": [True]})


@TABLE.compute("CreateVideo", inline=True)
def create_video(inputs: dict[str, Any]) -> tuple[Any, ...]:
    return (SimVideo(get_image(inputs, "images"), get_float(inputs, "fps", 30.0)),)


@TABLE.compute("GetVideoComponents", inline=True)
def get_video_components(inputs: dict[str, Any]) -> tuple[Any, ...]:
    video = get_value(inputs, "video", SimVideo)
    return (video.frames, None, video.fps)


async def _save_video(ctx: NodeContext, frames: Array, fps: float, prefix: str) -> NodeResult:
    options = _webp_options(ctx, fps, False, 80, 4)
    results = await asyncio.to_thread(_save_animation, frames, ctx.dirs.output, prefix, "webp", options)
    return NodeResult((), {"images": results, "animated": [True]})


@TABLE.node("SaveVideo")
async def save_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    video = get_value(inputs, "video", SimVideo)
    return await _save_video(ctx, video.frames, video.fps, get_str(inputs, "filename_prefix", "video/ComfyUI"))


@TABLE.node("SaveWEBM")
async def save_webm(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images = get_image(inputs, "images")
    return await _save_video(ctx, images, get_float(inputs, "fps", 24.0), get_str(inputs, "filename_prefix", "ComfyUI"))


def safetensors_bytes(tensors: dict[str, Array], metadata: dict[str, str]) -> bytes:
    """float32 arrays in the safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header: dict[str, Any] = {"__metadata__": metadata}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return len(encoded).to_bytes(8, "little") + encoded + b"".join(chunks)


def _save_latent_file(samples: Array, root: Path, prefix: str, metadata: dict[str, str]) -> list[dict[str, str]]:
    target = save_target(root, prefix, 0, 0)
    name = target.file_name(0, "latent")
    tensors = {"latent_tensor": samples, "latent_format_version_0": np.zeros(0, dtype=np.float32)}
    (target.folder / name).write_bytes(safetensors_bytes(tensors, metadata))
    return [{"filename": name, "subfolder": target.subfolder, "type": "output"}]


@TABLE.node("SaveLatent")
async def save_latent(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    samples = get_latent(inputs, "samples")["samples"]
    metadata = {"prompt": json.dumps(ctx.prompt)}
    metadata.update({key: json.dumps(value) for key, value in (ctx.extra_pnginfo or {}).items()})
    prefix = get_str(inputs, "filename_prefix", "latents/ComfyUI")
    results = await asyncio.to_thread(_save_latent_file, samples, ctx.dirs.output, prefix, metadata)
    return NodeResult((), {"latents": results})
