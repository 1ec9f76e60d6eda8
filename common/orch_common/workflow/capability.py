"""Can this server run this prompt? Missing node classes, COMBO values it lacks, models it needs.

File inputs of upload widgets (LoadImage.image, …) are not counted as missing: they are uploaded with
the job. Model files are the COMBO values of loader inputs that look like model files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orch_common.workflow.api import ApiPrompt, is_link, parse_api
from orch_common.workflow.object_info import ObjectInfoIndex
from orch_common.workflow.validate import unwrap_value

__all__ = [
    "Capability",
    "MissingValue",
    "RequiredModel",
    "check_capability",
    "check_servers",
    "required_node_classes",
]

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx", ".pkl")


@dataclass(frozen=True)
class MissingValue:
    node_id: str
    input: str
    value: Any


@dataclass(frozen=True)
class RequiredModel:
    node_id: str
    input: str
    name: str


@dataclass(frozen=True)
class Capability:
    ok: bool
    missing_classes: tuple[str, ...]
    missing_values: tuple[MissingValue, ...]
    required_models: tuple[RequiredModel, ...]


def _prompt(api_prompt: ApiPrompt | Mapping[str, Any]) -> ApiPrompt:
    return api_prompt if isinstance(api_prompt, ApiPrompt) else parse_api(api_prompt)


def required_node_classes(api_prompt: ApiPrompt | Mapping[str, Any]) -> set[str]:
    """Every class_type the prompt uses."""
    return {node.class_type for node in _prompt(api_prompt).values()}


def _is_model_input(name: str, value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_SUFFIXES)


def check_capability(api_prompt: ApiPrompt | Mapping[str, Any], index: ObjectInfoIndex) -> Capability:
    """What the server behind ``index`` lacks to run the prompt."""
    prompt = _prompt(api_prompt)
    missing_classes = sorted({n.class_type for n in prompt.values() if n.class_type not in index})
    missing_values: list[MissingValue] = []
    models: list[RequiredModel] = []
    for node_id, node in prompt.items():
        info = index.get_class(node.class_type)
        if info is None:
            continue
        for spec in info.widget_inputs:
            if spec.type != "COMBO" or spec.name not in node.inputs or is_link(node.inputs[spec.name]):
                continue
            value = unwrap_value(node.inputs[spec.name])
            if spec.image_upload:
                continue
            if _is_model_input(spec.name, value) and isinstance(value, str):
                models.append(RequiredModel(node_id, spec.name, value))
            if spec.choices is not None and value not in spec.choices:
                missing_values.append(MissingValue(node_id, spec.name, value))
    return Capability(
        ok=not missing_classes and not missing_values,
        missing_classes=tuple(missing_classes),
        missing_values=tuple(missing_values),
        required_models=tuple(models),
    )


def check_servers(
    api_prompt: ApiPrompt | Mapping[str, Any], indexes: Mapping[str, ObjectInfoIndex]
) -> dict[str, Capability]:
    """Per server name, what it lacks; ``[name for name, c in result.items() if c.ok]`` can run it."""
    prompt = _prompt(api_prompt)
    return {name: check_capability(prompt, index) for name, index in indexes.items()}
