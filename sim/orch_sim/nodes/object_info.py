"""Model-file COMBO lists for `/object_info`, and the model files a demo sim offers.

A recorded `/object_info` from a server without model files has empty lists for every model input
(`ckpt_name: [[], {...}]`, or the newer `["COMBO", {"options": []}]`). `augment_object_info` fills them from
a folder → files mapping, keeping any entries already there (VAELoader's "pixel_space").
"""

from __future__ import annotations

import copy
from typing import Any

from orch_common.comfy.model_folders import MODEL_INPUT_FOLDERS, folder_of

from .catalog import extra_classes

__all__ = ["MODEL_INPUT_FOLDERS", "augment_object_info", "default_models", "folder_of"]

_DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": [
        "DreamShaper_8_pruned.safetensors",
        "sd_xl_base_1.0.safetensors",
        "sd_xl_refiner_1.0.safetensors",
        "sim-sd15.safetensors",
        "sim-sdxl.safetensors",
        "v1-5-pruned-emaonly-fp16.safetensors",
    ],
    "vae": [
        "qwen_image_vae.safetensors",
        "sim-vae.safetensors",
        "vae-ft-mse-840000-ema-pruned.safetensors",
        "wan2.2_vae.safetensors",
    ],
    "loras": [
        "Qwen-Image-Lightning-4steps-V1.0.safetensors",
        "sim-lora-detail.safetensors",
        "sim-lora-watercolor.safetensors",
    ],
    "diffusion_models": [
        "lotus-depth-d-v1-1.safetensors",
        "qwen_image_fp8_e4m3fn.safetensors",
        "sim-unet.safetensors",
        "wan2.2_ti2v_5B_fp16.safetensors",
    ],
    "text_encoders": [
        "qwen_2.5_vl_7b_fp8_scaled.safetensors",
        "sim-clip-l.safetensors",
        "sim-t5xxl.safetensors",
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ],
    "clip_vision": ["sim-clip-vision.safetensors"],
    "controlnet": ["Qwen-Image-InstantX-ControlNet-Union.safetensors", "sim-controlnet-canny.safetensors"],
    "upscale_models": ["sim-2x-upscaler.pth", "sim-4x-upscaler.pth"],
    "style_models": ["sim-style.safetensors"],
    "hypernetworks": ["sim-hypernetwork.pt"],
}


def default_models() -> dict[str, list[str]]:
    """Model folder → file names a demo sim offers (covers the recorded UI templates' and Wan 2.2 5B's names)."""
    return {folder: list(files) for folder, files in _DEFAULT_MODELS.items()}


def _options(spec: list[Any]) -> list[Any] | None:
    if spec and isinstance(spec[0], list):
        return spec[0]
    if spec and spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        return options if isinstance(options, list) else None
    return None


def _fill(spec: list[Any], files: list[str]) -> None:
    current = _options(spec)
    if current is None:
        return
    merged = list(files) + [entry for entry in current if entry not in files]
    if isinstance(spec[0], list):
        spec[0] = merged
    else:
        spec[1]["options"] = merged


def augment_object_info(object_info: dict[str, Any], models: dict[str, list[str]]) -> dict[str, Any]:
    """A copy of `object_info` whose model-file COMBO lists offer `models` (folder → file names).

    Classes the sim can run but the recorded object_info lacks are added from `extra_classes()`.
    """
    out = copy.deepcopy(object_info)
    for class_type, definition in extra_classes().items():
        out.setdefault(class_type, copy.deepcopy(definition))
    for class_type, definition in out.items():
        if not isinstance(definition, dict):
            continue
        sections = definition.get("input", {})
        for section in ("required", "optional"):
            for input_name, spec in (sections.get(section) or {}).items():
                folder = folder_of(class_type, input_name)
                if folder is not None and isinstance(spec, list):
                    _fill(spec, sorted(models.get(folder, [])))
    return out
