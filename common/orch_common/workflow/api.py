"""The API ("prompt") format and format detection.

An API prompt is ``{node_id: {"class_type", "inputs": {name: literal | [src_id, slot]}, "_meta": {"title"}}}``.
A two-element list ``[str, int]`` is always a link; literal lists are wrapped as ``{"__value__": [...]}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orch_common.workflow.errors import WorkflowParseError

__all__ = ["ApiNode", "ApiPrompt", "Link", "WorkflowFormat", "detect_format", "is_link", "parse_api"]


class WorkflowFormat(StrEnum):
    UI = "ui"
    API = "api"


@dataclass(frozen=True)
class Link:
    """A link input: output ``slot`` of node ``node_id``."""

    node_id: str
    slot: int


def is_link(value: Any) -> bool:
    """True when an API input value is a link ``[node_id, slot]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


@dataclass(frozen=True)
class ApiNode:
    id: str
    class_type: str
    inputs: Mapping[str, Any]
    title: str | None = None

    def links(self) -> dict[str, Link]:
        return {name: Link(str(v[0]), v[1]) for name, v in self.inputs.items() if is_link(v)}

    def literals(self) -> dict[str, Any]:
        return {name: v for name, v in self.inputs.items() if not is_link(v)}


@dataclass(frozen=True)
class ApiPrompt(Mapping[str, ApiNode]):
    """A parsed API prompt; ``raw`` is the dict it came from."""

    nodes: Mapping[str, ApiNode]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    def __getitem__(self, node_id: str) -> ApiNode:
        return self.nodes[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __hash__(self) -> int:
        return id(self)


def detect_format(data: Any) -> WorkflowFormat:
    """UI when the object has a ``nodes`` list, API when every value is a node with ``class_type``."""
    if not isinstance(data, dict):
        raise WorkflowParseError(f"a workflow is a JSON object, got {type(data).__name__}")
    if isinstance(data.get("nodes"), list):
        return WorkflowFormat.UI
    if data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return WorkflowFormat.API
    if not data:
        raise WorkflowParseError("the workflow is an empty object")
    raise WorkflowParseError("neither a UI workflow (no 'nodes' list) nor an API prompt (values without 'class_type')")


def parse_api(data: Any) -> ApiPrompt:
    """Parse and validate an API prompt."""
    if not isinstance(data, dict):
        raise WorkflowParseError(f"an API prompt is a JSON object, got {type(data).__name__}")
    nodes: dict[str, ApiNode] = {}
    for node_id, raw in data.items():
        path = f"prompt[{node_id!r}]"
        if not isinstance(raw, dict):
            raise WorkflowParseError(f"expected a node object, got {type(raw).__name__}", path)
        class_type = raw.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            raise WorkflowParseError("the node has no class_type", f"{path}.class_type")
        inputs = raw.get("inputs", {})
        if not isinstance(inputs, dict):
            raise WorkflowParseError(f"expected an object, got {type(inputs).__name__}", f"{path}.inputs")
        for name, value in inputs.items():
            if isinstance(value, list) and not is_link(value):
                raise WorkflowParseError(
                    'a list that is not a [node_id, slot] link; literal lists must be wrapped as {"__value__": [...]}',
                    f"{path}.inputs.{name}",
                )
        meta = raw.get("_meta")
        title = meta.get("title") if isinstance(meta, dict) else None
        nodes[str(node_id)] = ApiNode(
            id=str(node_id), class_type=class_type, inputs=inputs, title=title if isinstance(title, str) else None
        )
    return ApiPrompt(nodes=nodes, raw=data)
