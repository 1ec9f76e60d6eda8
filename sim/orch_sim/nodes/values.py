"""Value representations flowing along links, and typed access to a node's resolved inputs.

Like ComfyUI's tensors, with numpy: IMAGE is float32 [B, H, W, C] in 0..1, MASK float32 [B, H, W], LATENT a dict
with "samples" float32 [B, C, H/8, W/8]. Model-ish values are small frozen dataclasses carrying what the
stand-ins need. Reading an input that is missing or of the wrong kind raises `TypeError` naming the input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "Array",
    "SimClip",
    "SimClipVision",
    "SimClipVisionOutput",
    "SimConditioning",
    "SimControlNet",
    "SimGuider",
    "SimModel",
    "SimNoise",
    "SimSampler",
    "SimStyleModel",
    "SimUpscaleModel",
    "SimVae",
    "SimVideo",
    "fingerprint",
    "get_bool",
    "get_float",
    "get_image",
    "get_int",
    "get_latent",
    "get_mask",
    "get_str",
    "get_value",
    "image_from_pil",
    "pil_from_image",
    "to_uint8",
]

Array = NDArray[np.float32]
T = TypeVar("T")


def fingerprint(*parts: object) -> str:
    """A stable hex digest of `repr` of the parts (deterministic across processes, unlike `hash`)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass(frozen=True)
class SimModel:
    """MODEL: which weights (and LoRAs) a sampler would run."""

    name: str
    loras: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class SimClip:
    """CLIP: a text encoder identity; `stop_at_layer` mirrors CLIPSetLastLayer."""

    name: str
    loras: tuple[tuple[str, float], ...] = ()
    stop_at_layer: int = -1


@dataclass(frozen=True)
class SimVae:
    """VAE: the decoder identity (our decoder is the same for every name)."""

    name: str


@dataclass(frozen=True)
class SimClipVision:
    """CLIP_VISION from the checkpoint loaders that return one."""

    name: str


@dataclass(frozen=True)
class SimClipVisionOutput:
    """CLIP_VISION_OUTPUT: a digest of the encoded image."""

    digest: str


@dataclass(frozen=True)
class SimStyleModel:
    """STYLE_MODEL: a name."""

    name: str


@dataclass(frozen=True)
class SimConditioning:
    """CONDITIONING: the encoded texts plus every modifier applied since, in order."""

    texts: tuple[str, ...]
    clip: str = ""
    modifiers: tuple[str, ...] = ()

    def with_modifier(self, modifier: str) -> SimConditioning:
        return SimConditioning(self.texts, self.clip, (*self.modifiers, modifier))

    @property
    def digest(self) -> str:
        return fingerprint(self.texts, self.clip, self.modifiers)


@dataclass(frozen=True)
class SimControlNet:
    """CONTROL_NET: a name; applying it only tags the conditioning."""

    name: str


@dataclass(frozen=True)
class SimUpscaleModel:
    """UPSCALE_MODEL: a name and the integer factor it resizes by."""

    name: str
    scale: int


@dataclass(frozen=True)
class SimNoise:
    """NOISE for SamplerCustomAdvanced: a seed, or None for DisableNoise."""

    seed: int | None


@dataclass(frozen=True)
class SimSampler:
    """SAMPLER: the sampler algorithm's name."""

    name: str


@dataclass(frozen=True)
class SimGuider:
    """GUIDER: model plus conditionings and cfg."""

    model: SimModel
    positive: SimConditioning
    negative: SimConditioning | None
    cfg: float


@dataclass(frozen=True)
class SimVideo:
    """VIDEO: frames (an IMAGE batch) and a frame rate."""

    frames: Array = field(compare=False)
    fps: float


def get_value(inputs: dict[str, Any], name: str, kind: type[T], default: T | None = None) -> T:
    """The input `name` as an instance of `kind` (or `default` when absent and a default is given)."""
    if name not in inputs:
        if default is not None:
            return default
        raise TypeError(f"input {name!r} is missing")
    value = inputs[name]
    if not isinstance(value, kind):
        raise TypeError(f"input {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _number(inputs: dict[str, Any], name: str, default: float | None, kind: str) -> int | float | str:
    value = inputs.get(name, default)
    if value is None:
        raise TypeError(f"input {name!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"input {name!r} must be {kind}, got {value!r}")
    return value


def get_int(inputs: dict[str, Any], name: str, default: int | None = None) -> int:
    return int(_number(inputs, name, default, "an INT"))


def get_float(inputs: dict[str, Any], name: str, default: float | None = None) -> float:
    return float(_number(inputs, name, default, "a FLOAT"))


def get_str(inputs: dict[str, Any], name: str, default: str | None = None) -> str:
    value = inputs.get(name, default)
    if value is None:
        raise TypeError(f"input {name!r} is missing")
    return value if isinstance(value, str) else str(value)


def get_bool(inputs: dict[str, Any], name: str, default: bool | None = None) -> bool:
    value = inputs.get(name, default)
    if value is None:
        raise TypeError(f"input {name!r} is missing")
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _array(inputs: dict[str, Any], name: str, ndim: int, kind: str) -> Array:
    if name not in inputs or inputs[name] is None:
        raise TypeError(f"input {name!r} is missing")
    value = inputs[name]
    if not isinstance(value, np.ndarray) or value.ndim != ndim:
        raise TypeError(f"input {name!r} must be a {kind} array of {ndim} dimensions, got {type(value).__name__}")
    return value.astype(np.float32, copy=False)


def get_image(inputs: dict[str, Any], name: str) -> Array:
    """An IMAGE input: float32 [B, H, W, C]."""
    return _array(inputs, name, 4, "IMAGE")


def get_mask(inputs: dict[str, Any], name: str) -> Array:
    """A MASK input: float32 [B, H, W] (a bare [H, W] is promoted to a batch of one)."""
    value = inputs.get(name)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return value[None].astype(np.float32, copy=False)
    return _array(inputs, name, 3, "MASK")


def get_latent(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """A LATENT input: a dict whose "samples" is float32 [B, C, h, w]."""
    value = inputs.get(name)
    if not isinstance(value, dict) or not isinstance(value.get("samples"), np.ndarray):
        raise TypeError(f"input {name!r} must be a LATENT (a dict with 'samples'), got {type(value).__name__}")
    return value


def to_uint8(image: NDArray[Any]) -> NDArray[np.uint8]:
    """0..1 floats to bytes, truncating like ComfyUI's `np.clip(255. * x, 0, 255).astype(np.uint8)`."""
    return np.clip(image * np.float32(255.0), 0, 255).astype(np.uint8)


def pil_from_image(frame: Array) -> Image.Image:
    """One [H, W, C] frame of an IMAGE as a PIL image (RGB, RGBA or L)."""
    data = to_uint8(frame)
    if data.shape[-1] == 1:
        return Image.fromarray(data[..., 0])
    return Image.fromarray(data)


def image_from_pil(picture: Image.Image) -> Array:
    """A PIL image as an RGB [H, W, 3] float32 frame."""
    return np.asarray(picture.convert("RGB"), dtype=np.float32) / np.float32(255.0)
