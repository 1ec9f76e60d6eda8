"""API-format workflows used across the end-to-end tests."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import FIXTURES

__all__ = ["basic", "txt2img"]


def basic(prefix: str = "e2e_basic") -> dict[str, Any]:
    """The recorded EmptyImage → ImageBlur → ImageInvert → SaveImage run (model-free, fast)."""
    workflow: dict[str, Any] = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())
    workflow["4"]["inputs"]["filename_prefix"] = prefix
    return workflow


def txt2img(
    seed: int = 1,
    steps: int = 8,
    size: int = 64,
    text: str = "a lighthouse at dusk",
    *,
    ckpt: str = "sim-sd15.safetensors",
    prefix: str | None = "e2e_txt2img",
) -> dict[str, Any]:
    """SD1.5-style txt2img against the simulated model nodes: `steps` progress messages from KSampler.

    The image goes to SaveImage under `prefix`, or to PreviewImage when `prefix` is None.
    """
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage" if prefix is not None else "PreviewImage",
            "inputs": {"images": ["8", 0], **({"filename_prefix": prefix} if prefix is not None else {})},
        },
    }
