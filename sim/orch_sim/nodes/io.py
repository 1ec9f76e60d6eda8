"""Nodes that touch files or the client: loaders, savers, previews, websocket images, PreviewAny.

UI dicts have the recorded shapes: `{"images": [{"filename", "subfolder", "type"}]}` for SaveImage and
PreviewImage (type "output" / "temp"), `{"text": [str]}` for PreviewAny; SaveImageWebsocket has no UI (nothing
in `executed`, nothing in history outputs). Animations, video and latent files are in `media`.
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
from .files import annotated_path, note_saved, save_target
from .mask import image_of_mask
from .registry import SMALL_ELEMENTS, NodeTable, off_loop
from .values import (
    Array,
    get_image,
    get_mask,
    get_str,
    pil_from_image,
)

__all__ = [
    "TABLE",
    "load_image",
    "load_image_is_changed",
    "load_image_mask",
    "png_metadata",
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
    note_saved(target.folder, [r["filename"] for r in results])
    return results


@TABLE.node("SaveImage")
async def save_image(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images = get_image(inputs, "images")
    prefix = get_str(inputs, "filename_prefix", "ComfyUI")
    metadata = png_metadata(ctx.prompt, ctx.extra_pnginfo)
    small = images.size <= SMALL_ELEMENTS
    results = await off_loop(small, _save_pngs, images, ctx.dirs.output, prefix, "output", 4, metadata)
    return NodeResult((), {"images": results})


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))


async def _preview(ctx: NodeContext, images: Array) -> NodeResult:
    metadata = png_metadata(ctx.prompt, ctx.extra_pnginfo)
    small = images.size <= SMALL_ELEMENTS
    results = await off_loop(small, _save_pngs, images, ctx.dirs.temp, _temp_prefix(), "temp", 1, metadata)
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


VALIDATORS = dict.fromkeys(_LOADERS, validate_load_image)
CHANGE_DETECTORS = dict.fromkeys(_LOADERS, load_image_is_changed)
