"""IMAGE nodes computed for real with numpy: creation, filters, geometry, batches."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from .registry import NodeTable
from .resample import gaussian_blur, resize, upscale
from .values import Array, get_bool, get_float, get_image, get_int, get_mask, get_str, image_from_pil, pil_from_image

__all__ = ["TABLE", "canny", "composite", "rgb_of"]

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


@TABLE.compute("ImageScaleToMaxDimension")
def image_scale_to_max_dimension(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    largest = get_int(inputs, "largest_size", 512)
    height, width = image.shape[1], image.shape[2]
    if height > width:
        width, height = round(width / height * largest), largest
    elif width > height:
        width, height = largest, round(height / width * largest)
    else:
        width = height = largest
    return (upscale(image, width, height, get_str(inputs, "upscale_method", "area"), "disabled"),)


@TABLE.compute("ResizeAndPadImage")
def resize_and_pad_image(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    target_w, target_h = get_int(inputs, "target_width", 512), get_int(inputs, "target_height", 512)
    scale = min(target_w / image.shape[2], target_h / image.shape[1])
    new_w, new_h = max(1, int(image.shape[2] * scale)), max(1, int(image.shape[1] * scale))
    scaled = resize(image, new_w, new_h, get_str(inputs, "interpolation", "area"))
    fill = 1.0 if get_str(inputs, "padding_color", "white") == "white" else 0.0
    out = np.full((image.shape[0], target_h, target_w, image.shape[3]), fill, dtype=np.float32)
    top, left = (target_h - new_h) // 2, (target_w - new_w) // 2
    out[:, top : top + new_h, left : left + new_w] = scaled
    return (out,)


@TABLE.compute("ImagePadForOutpaint")
def image_pad_for_outpaint(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    left, top = get_int(inputs, "left", 0), get_int(inputs, "top", 0)
    right, bottom = get_int(inputs, "right", 0), get_int(inputs, "bottom", 0)
    feathering = get_int(inputs, "feathering", 40)
    batch, height, width, channels = image.shape
    out = np.full((batch, height + top + bottom, width + left + right, channels), 0.5, dtype=np.float32)
    out[:, top : top + height, left : left + width] = image
    mask = np.ones(out.shape[1:3], dtype=np.float32)
    inner = np.zeros((height, width), dtype=np.float32)
    if feathering > 0 and feathering * 2 < min(height, width):
        rows, cols = np.mgrid[0:height, 0:width]
        distances = [np.full((height, width), np.inf)]
        for pad, distance in ((top, rows), (bottom, height - 1 - rows), (left, cols), (right, width - 1 - cols)):
            if pad:
                distances.append(distance.astype(np.float64))
        nearest = np.minimum.reduce(distances)
        inner = np.where(nearest < feathering, ((feathering - nearest) / feathering) ** 2, 0.0).astype(np.float32)
    mask[top : top + height, left : left + width] = inner
    return (out, mask[None])


_SPACING_COLOURS = {"white": 1.0, "black": 0.0, "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0, 0, 1.0)}


@TABLE.compute("ImageStitch")
def image_stitch(inputs: dict[str, Any]) -> tuple[Any, ...]:
    first = get_image(inputs, "image1")
    if inputs.get("image2") is None:
        return (first,)
    second = get_image(inputs, "image2")
    direction = get_str(inputs, "direction", "right")
    horizontal = direction in ("right", "left")
    if get_bool(inputs, "match_image_size", True):
        if horizontal:
            size = (max(1, round(second.shape[2] * first.shape[1] / second.shape[1])), first.shape[1])
        else:
            size = (first.shape[2], max(1, round(second.shape[1] * first.shape[2] / second.shape[2])))
        second = resize(second, size[0], size[1], "lanczos")
    batch, channels = max(first.shape[0], second.shape[0]), min(first.shape[3], second.shape[3])
    parts = [_repeat_to(first[..., :channels], batch), _repeat_to(second[..., :channels], batch)]
    if direction in ("left", "up"):
        parts.reverse()
    axis = 2 if horizontal else 1
    if (not horizontal and first.shape[2] != second.shape[2]) or (horizontal and first.shape[1] != second.shape[1]):
        extent = max(part.shape[3 - axis] for part in parts)
        padded = []
        for part in parts:
            pad = [(0, 0)] * 4
            pad[3 - axis] = (0, extent - part.shape[3 - axis])
            padded.append(np.pad(part, pad))
        parts = padded
    spacing = get_int(inputs, "spacing_width", 0)
    if spacing > 0:
        shape = list(parts[0].shape)
        shape[axis] = spacing
        spacer = np.empty(shape, dtype=np.float32)
        spacer[...] = np.resize(np.asarray(_SPACING_COLOURS[get_str(inputs, "spacing_color", "white")]), channels)
        parts.insert(1, spacer)
    return (np.concatenate(parts, axis=axis),)


@TABLE.compute("ImageQuantize")
def image_quantize(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    colours = get_int(inputs, "colors", 256)
    dither = Image.Dither.FLOYDSTEINBERG if get_str(inputs, "dither", "none") != "none" else Image.Dither.NONE
    frames = []
    for frame in image:
        picture = pil_from_image(frame[..., :3]).convert("RGB")
        quantized = picture.quantize(colors=colours, dither=dither).convert("RGB")
        frames.append(image_from_pil(quantized))
    return (np.stack(frames),)


def _window(image: Array, size: int, reduce: Any) -> Array:
    pad = size // 2
    out = image
    for axis in (1, 2):
        widths = [(0, 0)] * 4
        widths[axis] = (pad, size - 1 - pad)
        padded = np.pad(out, widths, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
        out = reduce(windows, axis=-1)
    return out.astype(np.float32)


@TABLE.compute("Morphology")
def morphology(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    size, operation = get_int(inputs, "kernel_size", 3), get_str(inputs, "operation", "erode")

    def erode(x: Array) -> Array:
        return _window(x, size, np.min)

    def dilate(x: Array) -> Array:
        return _window(x, size, np.max)

    operations: dict[str, Callable[[], Array]] = {
        "erode": lambda: erode(image),
        "dilate": lambda: dilate(image),
        "open": lambda: dilate(erode(image)),
        "close": lambda: erode(dilate(image)),
        "gradient": lambda: dilate(image) - erode(image),
        "top_hat": lambda: image - dilate(erode(image)),
        "bottom_hat": lambda: erode(dilate(image)) - image,
    }
    if operation not in operations:
        raise ValueError(f"Invalid operation {operation!r}")
    return (np.clip(operations[operation](), 0.0, 1.0).astype(np.float32),)


def _sobel(gray: Array) -> tuple[Array, Array]:
    padded = np.pad(gray, ((0, 0), (1, 1), (1, 1)), mode="edge")

    def at(dy: int, dx: int) -> Array:
        return padded[:, 1 + dy : padded.shape[1] - 1 + dy, 1 + dx : padded.shape[2] - 1 + dx]

    gx = (at(-1, 1) + 2 * at(0, 1) + at(1, 1)) - (at(-1, -1) + 2 * at(0, -1) + at(1, -1))
    gy = (at(1, -1) + 2 * at(1, 0) + at(1, 1)) - (at(-1, -1) + 2 * at(-1, 0) + at(-1, 1))
    return gx, gy


def canny(image: Array, low: float, high: float) -> Array:
    """Edges (0/1) of each frame: blur, Sobel, non-maximum suppression, hysteresis."""
    gray = image[..., :3] @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    gray = gaussian_blur(gray[..., None], 2, 0.5)[..., 0]
    gx, gy = _sobel(gray)
    magnitude = np.hypot(gx, gy)
    angle = (np.round(np.arctan2(gy, gx) / (np.pi / 4)) % 4).astype(int)
    padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))
    height, width = magnitude.shape[1:]
    keep = np.zeros_like(magnitude, dtype=bool)
    for direction, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        behind = padded[:, 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
        keep |= (angle == direction) & (magnitude >= ahead) & (magnitude >= behind)
    strong = keep & (magnitude > high)
    weak = keep & (magnitude > low)
    edges = strong
    for _ in range(max(height, width)):
        grown = _window(edges[..., None].astype(np.float32), 3, np.max)[..., 0] > 0
        grown &= weak
        if np.array_equal(grown, edges):
            break
        edges = grown
    return np.repeat(edges[..., None].astype(np.float32), 3, axis=-1)


@TABLE.compute("Canny")
def canny_node(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    return (canny(image, get_float(inputs, "low_threshold", 0.4), get_float(inputs, "high_threshold", 0.8)),)


# Flux Kontext's preferred sizes (width, height), about one megapixel each
_KONTEXT_SIZES = (
    (672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184), (944, 1104),
    (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752), (1456, 720), (1504, 688),
    (1568, 672),
)  # fmt: skip


@TABLE.compute("FluxKontextImageScale")
def flux_kontext_image_scale(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    aspect = image.shape[2] / image.shape[1]
    width, height = min(_KONTEXT_SIZES, key=lambda size: abs(aspect - size[0] / size[1]))
    return (upscale(image, width, height, "lanczos", "center"),)


@TABLE.compute("ImageRGBToYUV")
def image_rgb_to_yuv(inputs: dict[str, Any]) -> tuple[Any, ...]:
    image = get_image(inputs, "image")
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    planes = (luma, (blue - luma) * 0.564 + 0.5, (red - luma) * 0.713 + 0.5)
    return tuple(np.repeat(plane[..., None], 3, axis=-1).astype(np.float32) for plane in planes)


@TABLE.compute("ImageYUVToRGB")
def image_yuv_to_rgb(inputs: dict[str, Any]) -> tuple[Any, ...]:
    luma, cb, cr = (get_image(inputs, name)[..., 0] for name in ("Y", "U", "V"))
    red = luma + 1.403 * (cr - 0.5)
    green = luma - 0.714 * (cr - 0.5) - 0.344 * (cb - 0.5)
    blue = luma + 1.773 * (cb - 0.5)
    return (np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0).astype(np.float32),)
