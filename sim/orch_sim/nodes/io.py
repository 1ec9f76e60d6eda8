"""Nodes that touch files or the client: loaders, savers, previews, websocket images, PreviewAny.

UI dicts have the recorded shapes: `{"images": [{"filename", "subfolder", "type"}]}` for SaveImage and
PreviewImage (type "output" / "temp"), plus `"animated": [bool]` for animated saves, `{"text": [str]}` for
PreviewAny; SaveImageWebsocket has no UI (nothing in `executed`, nothing in history outputs).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import string
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from .context import NodeContext, NodeResult, SimDirs
from .files import annotated_path, save_target
from .mask import image_of_mask
from .registry import NodeTable
from .values import (
    Array,
    SimVideo,
    get_bool,
    get_float,
    get_image,
    get_int,
    get_latent,
    get_mask,
    get_str,
    get_value,
    pil_from_image,
)

__all__ = [
    "TABLE",
    "load_image",
    "load_image_is_changed",
    "load_image_mask",
    "png_metadata",
    "safetensors_bytes",
    "validate_load_image",
]

TABLE = NodeTable(real=True)

_LOADERS = ("LoadImage", "LoadImageMask", "LoadImageOutput")


def validate_load_image(inputs: dict[str, Any], dirs: SimDirs) -> str | None:
    """LoadImage's VALIDATE_INPUTS: the named (possibly annotated) file must exist in its root."""
    image = inputs.get("image")
    if not isinstance(image, str):
        return f"Invalid image file: {image}"
    try:
        path = annotated_path(image, dirs)
    except ValueError:
        return f"Invalid image file: {image}"
    return None if path.is_file() else f"Invalid image file: {image}"


def load_image_is_changed(inputs: dict[str, Any], dirs: SimDirs) -> str | None:
    """LoadImage's IS_CHANGED: the SHA-256 of the file's bytes (None if it cannot be read)."""
    image = inputs.get("image")
    if not isinstance(image, str):
        return None
    try:
        return hashlib.sha256(annotated_path(image, dirs).read_bytes()).hexdigest()
    except (OSError, ValueError):
        return None


def _frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as picture:
        frames = [ImageOps.exif_transpose(frame.copy()) for frame in ImageSequence.Iterator(picture)]
        if picture.format == "MPO":
            frames = frames[:1]
    return [frame.point(lambda v: v * (1 / 255)) if frame.mode == "I" else frame for frame in frames]


def _alpha(frame: Image.Image) -> Array | None:
    if "A" in frame.getbands():
        return np.asarray(frame.getchannel("A"), dtype=np.float32) / np.float32(255.0)
    if frame.mode == "P" and "transparency" in frame.info:
        return np.asarray(frame.convert("RGBA").getchannel("A"), dtype=np.float32) / np.float32(255.0)
    return None


def load_image(path: Path) -> tuple[Array, Array]:
    """IMAGE [N, H, W, 3] and MASK [N, H, W] (1 - alpha; 64×64 zeros without alpha) like ComfyUI's LoadImage.

    Frames of an animated file become the batch; frames whose size differs from the first are skipped.
    """
    images: list[Array] = []
    masks: list[Array] = []
    size: tuple[int, int] | None = None
    for frame in _frames(path):
        rgb = frame.convert("RGB")
        size = size or rgb.size
        if rgb.size != size:
            continue
        images.append(np.asarray(rgb, dtype=np.float32) / np.float32(255.0))
        alpha = _alpha(frame)
        masks.append(np.float32(1.0) - alpha if alpha is not None else np.zeros((64, 64), dtype=np.float32))
    if len({m.shape for m in masks}) > 1:
        masks = [m if m.shape == images[0].shape[:2] else np.zeros(images[0].shape[:2], np.float32) for m in masks]
    return np.stack(images), np.stack(masks)


def load_image_mask(path: Path, channel: str) -> Array:
    """MASK [1, H, W] of one channel like ComfyUI's LoadImageMask (alpha is inverted)."""
    frame = _frames(path)[0]
    if frame.getbands() != ("R", "G", "B", "A"):
        frame = frame.convert("RGBA")
    letter = channel[:1].upper()
    if letter not in frame.getbands():
        return np.zeros((1, 64, 64), dtype=np.float32)
    mask = np.asarray(frame.getchannel(letter), dtype=np.float32) / np.float32(255.0)
    if letter == "A":
        mask = np.float32(1.0) - mask
    return mask[None]


@TABLE.node("LoadImage", "LoadImageOutput")
async def load_image_node(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    path = annotated_path(get_str(inputs, "image"), ctx.dirs)
    return NodeResult(await asyncio.to_thread(load_image, path))


@TABLE.node("LoadImageMask")
async def load_image_mask_node(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    path = annotated_path(get_str(inputs, "image"), ctx.dirs)
    mask = await asyncio.to_thread(load_image_mask, path, get_str(inputs, "channel", "alpha"))
    return NodeResult((mask,))


def png_metadata(prompt: dict[str, Any] | None, extra_pnginfo: dict[str, Any] | None) -> PngInfo:
    """tEXt chunks like ComfyUI's: "prompt", then one per `extra_pnginfo` key, each JSON-encoded."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def _save_pngs(
    images: Array, root: Path, prefix: str, kind: str, compress_level: int, metadata: PngInfo
) -> list[dict[str, str]]:
    target = save_target(root, prefix, images.shape[2], images.shape[1])
    results = []
    for index, frame in enumerate(images):
        name = target.file_name(index, "png", batch_number=index)
        pil_from_image(frame).save(target.folder / name, pnginfo=metadata, compress_level=compress_level)
        results.append({"filename": name, "subfolder": target.subfolder, "type": kind})
    return results


@TABLE.node("SaveImage")
async def save_image(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images = get_image(inputs, "images")
    prefix = get_str(inputs, "filename_prefix", "ComfyUI")
    metadata = png_metadata(ctx.prompt, ctx.extra_pnginfo)
    results = await asyncio.to_thread(_save_pngs, images, ctx.dirs.output, prefix, "output", 4, metadata)
    return NodeResult((), {"images": results})


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))


async def _preview(ctx: NodeContext, images: Array) -> NodeResult:
    metadata = png_metadata(ctx.prompt, ctx.extra_pnginfo)
    results = await asyncio.to_thread(_save_pngs, images, ctx.dirs.temp, _temp_prefix(), "temp", 1, metadata)
    return NodeResult((), {"images": results})


@TABLE.node("PreviewImage")
async def preview_image(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    return await _preview(ctx, get_image(inputs, "images"))


@TABLE.node("MaskPreview")
async def mask_preview(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    return await _preview(ctx, image_of_mask(get_mask(inputs, "mask")))


@TABLE.node("SaveImageWebsocket")
async def save_image_websocket(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    # Recorded order per image: `progress` (value = index, max = batch) then the PNG frame.
    images = get_image(inputs, "images")
    for index, frame in enumerate(images):
        ctx.check_interrupted()
        await ctx.report_progress(index, images.shape[0])
        await ctx.send_image_frame(pil_from_image(frame))
    return NodeResult(())


def _preview_text(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, bool | int | float):
        return str(source)
    if source is None:
        return "None"
    try:
        return json.dumps(source)
    except (TypeError, ValueError):
        return str(source)


@TABLE.node("PreviewAny")
async def preview_any(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    return NodeResult((), {"text": [_preview_text(inputs.get("source"))]})


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
    # No video encoder is available here: "video" outputs are animated WEBP files (extension .webp).
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


VALIDATORS = dict.fromkeys(_LOADERS, validate_load_image)
CHANGE_DETECTORS = dict.fromkeys(_LOADERS, load_image_is_changed)


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
