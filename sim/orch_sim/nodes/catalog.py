"""All node families in one table: the lookups the sim server uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import image, io, latent, mask, media, models, sampler, text
from .context import Executor, SimDirs

__all__ = [
    "extra_classes",
    "get_executor",
    "is_changed_hook",
    "model_free_classes",
    "validate_inputs_hook",
    "validated_inputs",
]

_TABLES = (image.TABLE, mask.TABLE, latent.TABLE, io.TABLE, media.TABLE, text.TABLE, models.TABLE, sampler.TABLE)


def _merge() -> dict[str, Executor]:
    merged: dict[str, Executor] = {}
    for table in _TABLES:
        clash = merged.keys() & table.executors.keys()
        if clash:
            raise ValueError(f"node classes registered by two families: {sorted(clash)}")
        merged.update(table.executors)
    return merged


_EXECUTORS = _merge()
_REAL = frozenset(name for table in _TABLES if table.real for name in table.executors)

_VALIDATORS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any], SimDirs], str | None]]] = {
    class_type: (("image",), validator) for class_type, validator in io.VALIDATORS.items()
}

# object_info entries for classes we run that ComfyUI 0.3.64's recorded /object_info lacks (none so far).
_EXTRA_CLASSES: dict[str, dict[str, Any]] = {}


def get_executor(class_type: str) -> Executor | None:
    """The executor for a node class, or None when the sim cannot run it."""
    return _EXECUTORS.get(class_type)


def model_free_classes() -> frozenset[str]:
    """Classes whose executors really compute (images, masks, latents, files, text), not model stand-ins."""
    return _REAL


def extra_classes() -> dict[str, dict[str, Any]]:
    """object_info definitions of runnable classes missing from the recorded object_info."""
    return dict(_EXTRA_CLASSES)


def validated_inputs(class_type: str) -> tuple[str, ...]:
    """The inputs a class's VALIDATE_INPUTS looks at: ComfyUI reports one error per name, with details
    `"<input> - <message>"` and `extra_info.input_name` (LoadImage: `("image",)`)."""
    entry = _VALIDATORS.get(class_type)
    return entry[0] if entry else ()


def validate_inputs_hook(class_type: str, inputs: dict[str, Any], dirs: SimDirs) -> str | None:
    """ComfyUI's VALIDATE_INPUTS for the classes that have one: an error message, or None when fine."""
    entry = _VALIDATORS.get(class_type)
    return entry[1](inputs, dirs) if entry else None


def is_changed_hook(class_type: str, inputs: dict[str, Any], dirs: SimDirs) -> str | None:
    """ComfyUI's IS_CHANGED for the classes that have one (the loaders: the file's SHA-256), else None.

    ComfyUI re-runs a cached node whose value changed, and writes the value into the prompt it embeds in saved
    PNGs as `"is_changed": [value]` beside the node's `inputs` (see `view_loadimage_scale.png`).
    """
    detector = io.CHANGE_DETECTORS.get(class_type)
    return detector(inputs, dirs) if detector else None
