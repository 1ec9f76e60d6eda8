"""The node catalogue: `/object_info` as this sim serves it, and the lookups validation and execution need.

The base is ComfyUI 0.3.64's recorded `/object_info` (bundled as `data/object_info.json`) or a file given
with `--object-info`; the node module then fills model COMBOs from `--models` and adds its stand-ins.
Image-upload COMBOs (LoadImage's `image`) list the input directory at the time of the request, as in
ComfyUI.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Catalog", "InputSpec", "load_object_info"]

InputSpec = tuple[Any, dict[str, Any], str]  # (type or combo list, options, "required" | "optional")

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def load_object_info(path: Path | None) -> dict[str, Any]:
    """Read an `/object_info` body from `path`, or the bundled ComfyUI 0.3.64 recording."""
    if path is not None:
        raw = path.read_text(encoding="utf-8")
    else:
        raw = resources.files("orch_sim").joinpath("data/object_info.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"object_info must be a JSON object of node classes, got {type(data).__name__}")
    return data


class Catalog:
    """Node classes by name, with per-class helpers; `input_dir` feeds the image-upload COMBOs."""

    def __init__(self, object_info: dict[str, Any], input_dir: Path) -> None:
        self.object_info = object_info
        self.input_dir = input_dir

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self.object_info

    def info(self, class_type: str) -> dict[str, Any]:
        return self._with_live_combos(class_type, self.object_info[class_type])

    def all_info(self) -> dict[str, Any]:
        return {name: self._with_live_combos(name, info) for name, info in self.object_info.items()}

    def is_output(self, class_type: str) -> bool:
        return bool(self.object_info.get(class_type, {}).get("output_node", False))

    def return_types(self, class_type: str) -> tuple[Any, ...]:
        return tuple(self.object_info[class_type].get("output", []))

    def inputs(self, class_type: str) -> dict[str, InputSpec]:
        """Required then optional inputs in declaration order, as (type, options, category)."""
        declared = self.info(class_type).get("input", {})
        specs: dict[str, InputSpec] = {}
        for category in ("required", "optional"):
            for name, spec in (declared.get(category) or {}).items():
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                specs[name] = (spec[0], options, category)
        return specs

    def input_files(self) -> list[str]:
        if not self.input_dir.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.input_dir.iterdir()
            if entry.is_file() and entry.suffix.lower() in _IMAGE_SUFFIXES
        )

    def _with_live_combos(self, class_type: str, info: dict[str, Any]) -> dict[str, Any]:
        uploads = [
            (category, name)
            for category in ("required", "optional")
            for name, spec in (info.get("input", {}).get(category) or {}).items()
            if isinstance(spec[0], list) and len(spec) > 1 and isinstance(spec[1], dict)
            and spec[1].get("image_upload")
        ]
        if not uploads:
            return info
        live = copy.deepcopy(info)
        files = self.input_files()
        for category, name in uploads:
            live["input"][category][name][0] = list(files)
        return live
