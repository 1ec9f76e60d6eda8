"""JSON shapes of `orch_common.workflow`'s inspection results, as `POST /api/workflows/inspect` answers them.

The library returns frozen dataclasses (`Parameter`, `Port`, `Capability`, …); the API flattens them into the
shapes the UI reads: a parameter's `id` is `"<node_id>.<input>"`, ports carry their node and input, and a
suggested parameter (one users usually expose) has `suggested: true` and its suggested label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from enum import Enum
from typing import Any

__all__ = ["capability_json", "jsonable", "parameters_json", "ports_json"]


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and pydantic models turned into plain JSON values."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def _address(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    return str(getattr(value, "node_id", "")), str(getattr(value, "input", ""))


def parameters_json(parameters: Iterable[Any], suggestions: Iterable[Any] = ()) -> list[dict[str, Any]]:
    suggested = {}
    for s in suggestions:
        addr = _address(getattr(getattr(s, "parameter", None), "address", None))
        if addr is not None:
            suggested[addr] = (str(getattr(s, "id", "")), str(getattr(s, "label", "")))
    out = []
    for p in parameters:
        item = jsonable(p)
        addr = _address(getattr(p, "address", None))
        if addr is not None:
            node_id, input_name = addr
            item.pop("address", None)
            item.update(id=f"{node_id}.{input_name}", node_id=node_id, input=input_name)
            hint = suggested.get(addr)
            item["suggested"] = hint is not None
            item["suggested_id"] = hint[0] if hint else None
            item["label"] = hint[1] if hint else f"{item.get('node_title') or node_id} · {input_name}"
        out.append(item)
    return out


def _port(port: Any) -> dict[str, Any]:
    item: dict[str, Any] = jsonable(port)
    addr = _address(getattr(port, "address", None))
    item.pop("address", None)
    item["input"] = addr[1] if addr else None
    return item


def ports_json(ports: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "inputs": [_port(p) for p in getattr(ports, "inputs", ())],
        "outputs": [_port(p) for p in getattr(ports, "outputs", ())],
    }


def capability_json(capability: Any, status: str) -> dict[str, Any]:
    item: dict[str, Any] = jsonable(capability)
    item["capable"] = bool(item.get("ok"))
    item["status"] = status
    return item
