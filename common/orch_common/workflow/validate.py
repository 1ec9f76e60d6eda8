"""Checking API prompts and single values against a server's object_info.

``validate_api_prompt`` reports what ComfyUI's ``validate_prompt`` would reject, as a list of ``Problem``
whose ``kind`` reuses ComfyUI's error type names; ``check_value`` is the per-value rule shared with
``patch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orch_common.workflow.api import ApiPrompt, is_link, parse_api
from orch_common.workflow.errors import WorkflowParseError
from orch_common.workflow.object_info import LinkInput, ObjectInfoIndex, WidgetInput

__all__ = ["Problem", "ProblemKind", "check_value", "unwrap_value", "validate_api_prompt", "wrap_if_list"]


class ProblemKind(StrEnum):
    INVALID_PROMPT = "invalid_prompt"
    UNKNOWN_CLASS = "unknown_class"
    NO_OUTPUTS = "prompt_no_outputs"
    REQUIRED_INPUT_MISSING = "required_input_missing"
    BAD_LINK = "bad_linked_input"
    TYPE_MISMATCH = "return_type_mismatch"
    INVALID_INPUT_TYPE = "invalid_input_type"
    VALUE_SMALLER_THAN_MIN = "value_smaller_than_min"
    VALUE_BIGGER_THAN_MAX = "value_bigger_than_max"
    VALUE_NOT_IN_LIST = "value_not_in_list"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    node_id: str | None = None
    input: str | None = None


def unwrap_value(value: Any) -> Any:
    """The literal behind a ``{"__value__": [...]}`` wrapper."""
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


def wrap_if_list(value: Any) -> Any:
    """Array literals must be wrapped as ``{"__value__": [...]}`` or the backend reads them as links."""
    return {"__value__": value} if isinstance(value, list) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_value(spec: WidgetInput, value: Any) -> tuple[ProblemKind, str] | None:
    """None when ``value`` is acceptable for ``spec``, else (kind, message)."""
    value = unwrap_value(value)
    if spec.type == "INT":
        if not (isinstance(value, int) and not isinstance(value, bool)) and not (
            isinstance(value, float) and value.is_integer()
        ):
            return ProblemKind.INVALID_INPUT_TYPE, f"expected an integer, got {value!r}"[:200]
    elif spec.type == "FLOAT":
        if not _is_number(value):
            return ProblemKind.INVALID_INPUT_TYPE, f"expected a number, got {value!r}"[:200]
    elif spec.type == "STRING":
        if not isinstance(value, str):
            return ProblemKind.INVALID_INPUT_TYPE, f"expected a string, got {type(value).__name__}"
    elif spec.type == "BOOLEAN":
        if not isinstance(value, bool):
            return ProblemKind.INVALID_INPUT_TYPE, f"expected true or false, got {value!r}"[:200]
    elif spec.type == "COMBO":
        if spec.choices is not None and not spec.image_upload and value not in spec.choices:
            shown = ", ".join(map(repr, spec.choices[:8])) + (" …" if len(spec.choices) > 8 else "") or "(empty list)"
            return ProblemKind.VALUE_NOT_IN_LIST, f"{value!r} is not one of {shown}"[:300]
        return None
    else:
        return None
    if spec.type in ("INT", "FLOAT"):
        if spec.min is not None and value < spec.min:
            return ProblemKind.VALUE_SMALLER_THAN_MIN, f"{value} is smaller than the minimum {spec.min}"
        if spec.max is not None and value > spec.max:
            return ProblemKind.VALUE_BIGGER_THAN_MAX, f"{value} is bigger than the maximum {spec.max}"
    return None


def _valid_types(output_type: str, input_type: str) -> bool:
    if input_type in ("*", "") or output_type in ("*", ""):
        return True
    outs = {t.strip() for t in output_type.split(",")}
    ins = {t.strip() for t in input_type.split(",")}
    return bool(outs & ins)


def validate_api_prompt(api_prompt: ApiPrompt | Mapping[str, Any], index: ObjectInfoIndex) -> list[Problem]:
    """Every problem ComfyUI's validation would find that can be seen without running anything."""
    problems: list[Problem] = []
    if not isinstance(api_prompt, ApiPrompt) and isinstance(api_prompt, Mapping):
        api_prompt, problems = _without_malformed_links(api_prompt)
    try:
        prompt = api_prompt if isinstance(api_prompt, ApiPrompt) else parse_api(api_prompt)
    except WorkflowParseError as exc:
        return [*problems, Problem(ProblemKind.INVALID_PROMPT, str(exc))]
    has_output = False
    for node_id, node in prompt.items():
        info = index.get_class(node.class_type)
        if info is None:
            problems.append(
                Problem(ProblemKind.UNKNOWN_CLASS, f"node class {node.class_type!r} does not exist", node_id)
            )
            continue
        has_output = has_output or info.output_node
        for spec in info.inputs:
            if spec.name not in node.inputs:
                if spec.required:
                    problems.append(
                        Problem(ProblemKind.REQUIRED_INPUT_MISSING, "required input missing", node_id, spec.name)
                    )
                continue
            value = node.inputs[spec.name]
            if is_link(value):
                problems.extend(_check_link(prompt, index, node_id, spec, value))
            elif isinstance(spec, LinkInput):
                problems.append(
                    Problem(ProblemKind.BAD_LINK, f"expects a link of type {spec.type}", node_id, spec.name)
                )
            else:
                found = check_value(spec, value)
                if found:
                    problems.append(Problem(found[0], found[1], node_id, spec.name))
    if prompt and not has_output:
        problems.append(Problem(ProblemKind.NO_OUTPUTS, "the prompt has no output node"))
    return problems


def _without_malformed_links(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Lists that are not ``[node_id, slot]`` become BAD_LINK problems (as ComfyUI reports them)."""
    problems: list[Problem] = []
    cleaned: dict[str, Any] = {}
    for node_id, node in raw.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            cleaned[node_id] = node
            continue
        kept = {}
        for name, value in inputs.items():
            if isinstance(value, list) and not is_link(value):
                problems.append(Problem(ProblemKind.BAD_LINK, f"malformed link {value!r}"[:200], str(node_id), name))
            else:
                kept[name] = value
        cleaned[node_id] = {**node, "inputs": kept}
    return cleaned, problems


def _check_link(
    prompt: ApiPrompt, index: ObjectInfoIndex, node_id: str, spec: WidgetInput | LinkInput, value: list[Any]
) -> list[Problem]:
    source_id, slot = str(value[0]), value[1]
    source = prompt.get(source_id)
    if source is None:
        return [
            Problem(ProblemKind.BAD_LINK, f"links to node {source_id}, which is not in the prompt", node_id, spec.name)
        ]
    source_info = index.get_class(source.class_type)
    if source_info is None:
        return []
    if not 0 <= slot < len(source_info.outputs):
        return [Problem(ProblemKind.BAD_LINK, f"node {source_id} has no output {slot}", node_id, spec.name)]
    output_type = source_info.outputs[slot].type
    if not _valid_types(output_type, spec.type):
        return [
            Problem(
                ProblemKind.TYPE_MISMATCH,
                f"{output_type} from node {source_id} into a {spec.type} input",
                node_id,
                spec.name,
            )
        ]
    return []
