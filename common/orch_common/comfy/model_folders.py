"""Which model folder a loader input lists: ComfyUI's COMBO of `ckpt_name` is the files of `checkpoints`, …

Shared by the agent (reading a server's model lists from its /object_info) and `orch sim` (filling the lists of
files it pretends to have), so both read the protocol the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CLASS_INPUT_FOLDERS", "MODEL_INPUT_FOLDERS", "folder_of"]

MODEL_INPUT_FOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "ckpt_name": "checkpoints",
        "vae_name": "vae",
        "lora_name": "loras",
        "unet_name": "diffusion_models",
        "clip_name": "text_encoders",
        "clip_name1": "text_encoders",
        "clip_name2": "text_encoders",
        "clip_name3": "text_encoders",
        "clip_name4": "text_encoders",
        "control_net_name": "controlnet",
        "style_model_name": "style_models",
        "gligen_name": "gligen",
        "hypernetwork_name": "hypernetworks",
        "photomaker_model_name": "photomaker",
        "upscale_model_name": "upscale_models",
        "config_name": "configs",
    }
)
"""Input names that name a file of one model folder, whichever node has them."""

CLASS_INPUT_FOLDERS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("CLIPVisionLoader", "clip_name"): "clip_vision",
        ("UpscaleModelLoader", "model_name"): "upscale_models",
        ("ModelPatchLoader", "name"): "model_patches",
        ("DiffusersLoader", "model_path"): "diffusers",
    }
)
"""Inputs whose folder depends on the node class (exceptions to MODEL_INPUT_FOLDERS)."""


def folder_of(class_type: str, input_name: str) -> str | None:
    """The model folder whose files are the choices of this input, or None if it names no model file."""
    return CLASS_INPUT_FOLDERS.get((class_type, input_name)) or MODEL_INPUT_FOLDERS.get(input_name)
