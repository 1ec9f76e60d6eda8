"""The deterministic "diffusion model": what a sampler converges to, and the VAE that turns latents into pixels.

A latent is [B, C, h, w] with C >= 4. Channels 0–2 hold colour in -1..1 at 1/8 resolution, channel 3 the
distance (in latent pixels, clipped to 2) to the nearest shape outline; any further channels carry faint
texture. Decoding upsamples ×8, maps colour to 0..1 and inks a crisp, anti-aliased outline where the distance
crosses zero, so a generated scene (gradient sky, hills, a sun, a few orbs) looks sharp at full size.
Encoding is the inverse up to resolution, so VAEEncode → VAEDecode round-trips an image approximately.

`generate` is a pure function of its key: layout from the seed, palette from the positive prompt, a small
"style" perturbation from everything else (negative prompt, model, sampler, cfg).
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from numpy.typing import NDArray

from .resample import resize
from .values import Array, fingerprint

__all__ = [
    "LATENT_CHANNELS",
    "MAX_DECODED_BYTES",
    "decode",
    "decode_video",
    "encode",
    "ensure_fits",
    "generate",
    "generate_video",
    "noise_like",
    "rng_for",
]

LATENT_CHANNELS = 4
SCALE = 8
MAX_DECODED_BYTES = 1 << 30  # a fake out-of-memory beyond 1 GiB of decoded frames keeps the host alive
_INK = np.float32(0.3)


def rng_for(*parts: object) -> np.random.Generator:
    """A numpy generator seeded from a stable digest of `parts`."""
    return np.random.default_rng(int(fingerprint(*parts)[:16], 16))


def _hsv(hue: float, saturation: float, value: float) -> NDArray[np.float32]:
    return np.asarray(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _scene(
    seed: int, palette_key: str, style_key: str, height: int, width: int, time: float = 0.0
) -> tuple[Array, Array]:
    """Colour [3, h, w] in 0..1 and outline distance [h, w] of one picture; `time` in 0..1 moves the scene."""
    layout, palette, style = rng_for("layout", seed), rng_for("palette", palette_key), rng_for("style", style_key)
    drift = rng_for("drift", seed)
    hue = float(palette.random()) + float(style.normal(0.0, 0.02))
    sky_top = _hsv(hue, 0.55 + 0.2 * float(palette.random()), 0.95)
    sky_low = _hsv(hue + 0.08 + 0.1 * float(palette.random()), 0.35, 1.0)
    ground_hue = hue + 0.3 + 0.3 * float(palette.random())
    ground_near, ground_far = _hsv(ground_hue, 0.65, 0.45), _hsv(ground_hue + 0.05, 0.5, 0.7)
    accent_hue = hue + 0.5 + 0.15 * float(palette.normal())

    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (u + 0.5) / width
    v = (v + 0.5) / height
    horizon = 0.5 + 0.25 * float(layout.random())
    for _ in range(3):
        amplitude, frequency = 0.05 * float(layout.random()), 1 + 4 * float(layout.random())
        phase = 6.3 * float(layout.random()) + 2 * math.pi * float(drift.normal(0.0, 0.3)) * time
        horizon = horizon + amplitude * np.sin(2 * math.pi * frequency * u + phase)
    sky = (v / np.maximum(horizon, 1e-3))[None]
    colour = sky_top[:, None, None] * (1 - sky) + sky_low[:, None, None] * sky
    ground = np.clip((v - horizon) / np.maximum(1 - horizon, 1e-3), 0, 1)[None]
    land = ground_far[:, None, None] * (1 - ground) + ground_near[:, None, None] * ground
    below = (v > horizon)[None]
    colour = np.where(below, land, colour)
    field = np.minimum(np.abs(v - horizon) * height, 2.0)

    aspect = width / height
    shapes = [(0.2 + 0.6 * float(layout.random()), 0.1 + 0.25 * float(layout.random()), 0.08, _hsv(hue + 0.12, 0.3, 1))]
    for _ in range(2 + int(layout.integers(0, 5))):
        radius = 0.03 + 0.09 * float(layout.random())
        centre_u, centre_v = float(layout.random()), 0.15 + 0.8 * float(layout.random())
        centre_u += float(drift.normal(0.0, 0.2)) * time
        centre_v += float(drift.normal(0.0, 0.1)) * time
        tint = _hsv(accent_hue + 0.2 * float(layout.normal()), 0.6, 0.9 + 0.1 * float(layout.random()))
        shapes.append((centre_u, centre_v, radius, tint))
    for centre_u, centre_v, radius, tint in shapes:
        distance = np.sqrt(((u - centre_u) * aspect) ** 2 + (v - centre_v) ** 2)
        inside = (radius - distance) * height
        weight = np.clip(inside + 0.5, 0, 1)[None]
        colour = colour * (1 - weight) + tint[:, None, None] * weight
        field = np.minimum(field, np.abs(inside))
    ripple = 0.015 * np.sin(2 * math.pi * (u * (3 + 5 * float(style.random())) + v * 7) + 6.3 * float(style.random()))
    return np.clip(colour + ripple[None], 0, 1).astype(np.float32), field.astype(np.float32)


def generate(seed: int, palette_key: str, style_key: str, shape: tuple[int, ...], time: float = 0.0) -> Array:
    """The clean latent [B, C, h, w] a sampler converges to; batch item i uses seed + i."""
    batch, channels, height, width = shape
    out = np.zeros(shape, dtype=np.float32)
    for index in range(batch):
        colour, field = _scene(seed + index, palette_key, style_key, height, width, time)
        out[index, :3] = colour * 2 - 1
        out[index, 3] = field
        if channels > LATENT_CHANNELS:
            texture = rng_for("texture", seed + index).standard_normal((channels - 4, height, width), np.float32)
            out[index, 4:] = 0.1 * texture
    return out


def generate_video(seed: int, palette_key: str, style_key: str, shape: tuple[int, ...]) -> Array:
    """The clean video latent [B, C, T, h, w]: the scene of `generate`, its orbs and hills drifting over T frames."""
    batch, channels, frames, height, width = shape
    out = np.zeros(shape, dtype=np.float32)
    for frame in range(frames):
        time = frame / max(frames - 1, 1)
        out[:, :, frame] = generate(seed, palette_key, style_key, (batch, channels, height, width), time)
    return out


def decode_video(samples: Array, temporal: int, spatial: int) -> Array:
    """Video latent [B, C, T, h, w] → IMAGE frames [B·T', h·spatial, w·spatial, 3] with T' = (T - 1)·temporal + 1,
    frames between latent frames blended linearly."""
    batch, _, frames, height, width = samples.shape
    total = (frames - 1) * temporal + 1
    ensure_fits(batch * total, width * spatial, height * spatial)
    keys = np.stack([decode(samples[:, :, t], spatial) for t in range(frames)], axis=1)
    out = np.empty((batch, total, *keys.shape[2:]), dtype=np.float32)
    for index in range(total):
        position = index / temporal
        low = min(int(position), frames - 1)
        high = min(low + 1, frames - 1)
        weight = np.float32(position - low)
        out[:, index] = keys[:, low] * (1 - weight) + keys[:, high] * weight
    return out.reshape(batch * total, *keys.shape[2:])


def noise_like(seed: int, shape: tuple[int, ...]) -> Array:
    """Gaussian noise of a latent's shape, fixed by the seed."""
    return rng_for("noise", seed).standard_normal(shape, dtype=np.float32)


def ensure_fits(frames: int, width: int, height: int) -> None:
    """Fail like a GPU out of memory before making more than `MAX_DECODED_BYTES` of float32 RGB frames."""
    if frames * width * height * 3 * 4 > MAX_DECODED_BYTES:
        raise MemoryError(f"Allocation on device: {frames} frames of {width}x{height} would not fit")


def decode(samples: Array, scale: int = SCALE) -> Array:
    """Latent [B, C, h, w] → IMAGE [B, h·scale, w·scale, 3]."""
    height, width = samples.shape[-2], samples.shape[-1]
    ensure_fits(samples.shape[0], width * scale, height * scale)
    planes = np.ascontiguousarray(samples[:, :LATENT_CHANNELS].transpose(0, 2, 3, 1))
    if planes.shape[-1] < LATENT_CHANNELS:
        missing = np.zeros((*planes.shape[:3], LATENT_CHANNELS - planes.shape[-1]), np.float32)
        planes = np.concatenate([planes, missing], -1)
    big = resize(planes, width * scale, height * scale, "bilinear") if scale != 1 else planes
    outline = np.exp(-np.square(big[..., 3:4] * np.float32(scale / 4)))
    rgb = (big[..., :3] * np.float32(0.5) + np.float32(0.5)) * (1 - _INK * outline)
    out: Array = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    return out


def encode(pixels: Array, channels: int = LATENT_CHANNELS, scale: int = SCALE) -> Array:
    """IMAGE [B, H, W, C] → latent [B, channels, H/scale, W/scale] (pixels cropped to multiples of scale, centred)."""
    height, width = (pixels.shape[1] // scale) * scale, (pixels.shape[2] // scale) * scale
    if height == 0 or width == 0:
        raise ValueError(f"image of {pixels.shape[2]}x{pixels.shape[1]} is too small to encode")
    top, left = (pixels.shape[1] % scale) // 2, (pixels.shape[2] % scale) // 2
    cropped = pixels[:, top : top + height, left : left + width, :3]
    small = resize(cropped, width // scale, height // scale, "area")
    out = np.zeros((pixels.shape[0], channels, height // scale, width // scale), dtype=np.float32)
    out[:, :3] = small.transpose(0, 3, 1, 2) * 2 - 1
    out[:, 3] = 2.0
    return out
