"""The UI ("workflow") format: parsing and validating what the ComfyUI editor saves.

Accepts schema 0.4 (tuple links, native reroutes in ``extra.reroutes`` / ``extra.linkExtensions``) and
schema 1 (object links with ``parentId``, top-level ``reroutes``), subgraph definitions in
``definitions.subgraphs`` (nested definitions too), node ids as ints or strings, slots as numeric strings,
link types as a string, an array (joined with ``,``) or a number, ``widgets_values`` as a list or an object.
Ids are normalised to strings. Every error is a ``WorkflowParseError`` whose path names the bad element.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from orch_common.workflow.errors import WorkflowParseError

__all__ = [
    "SUBGRAPH_INPUT_NODE",
    "SUBGRAPH_OUTPUT_NODE",
    "NodeMode",
    "Reroute",
    "SubgraphDef",
    "SubgraphIO",
    "UiGraph",
    "UiGroup",
    "UiInput",
    "UiLink",
    "UiNode",
    "UiOutput",
    "UiWorkflow",
    "parse_ui",
]

SUBGRAPH_INPUT_NODE = "-10"
SUBGRAPH_OUTPUT_NODE = "-20"


class NodeMode(IntEnum):
    """litegraph ``LGraphEventMode``."""

    ALWAYS = 0
    ON_EVENT = 1
    NEVER = 2
    ON_TRIGGER = 3
    BYPASS = 4


@dataclass(frozen=True)
class UiInput:
    name: str
    type: str
    link: int | None
    widget: str | None = None


@dataclass(frozen=True)
class UiOutput:
    name: str
    type: str
    links: tuple[int, ...] = ()


@dataclass(frozen=True)
class UiNode:
    id: str
    type: str
    mode: int
    title: str | None
    inputs: tuple[UiInput, ...]
    outputs: tuple[UiOutput, ...]
    widgets_values: list[Any] | dict[str, Any] | None
    properties: Mapping[str, Any]
    order: int | None
    path: str


@dataclass(frozen=True)
class UiLink:
    id: int
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str
    parent_id: int | None = None


@dataclass(frozen=True)
class Reroute:
    """A native (litegraph) reroute: a waypoint on links, not a node."""

    id: int
    parent_id: int | None
    link_ids: tuple[int, ...]
    floating: bool


@dataclass(frozen=True)
class UiGroup:
    title: str
    bounding: tuple[float, ...]


@dataclass(frozen=True)
class UiGraph:
    nodes: tuple[UiNode, ...]
    links: Mapping[int, UiLink]
    reroutes: Mapping[int, Reroute]
    groups: tuple[UiGroup, ...]
    path: str
    _by_id: dict[str, UiNode] = field(default_factory=dict, compare=False, repr=False)

    def node(self, node_id: str) -> UiNode | None:
        if not self._by_id and self.nodes:
            self._by_id.update((n.id, n) for n in self.nodes)
        return self._by_id.get(node_id)


@dataclass(frozen=True)
class SubgraphIO:
    id: str
    name: str
    type: str
    link_ids: tuple[int, ...]


@dataclass(frozen=True)
class SubgraphDef:
    id: str
    name: str
    graph: UiGraph
    inputs: tuple[SubgraphIO, ...]
    outputs: tuple[SubgraphIO, ...]


@dataclass(frozen=True)
class UiWorkflow:
    version: float
    graph: UiGraph
    subgraphs: Mapping[str, SubgraphDef]
    extra: Mapping[str, Any]
    raw: Mapping[str, Any] = field(compare=False, repr=False)


def _fail(path: str, message: str) -> WorkflowParseError:
    return WorkflowParseError(message, path)


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, path: str, *, optional: bool = True) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__}")
    return value


def _int(value: Any, path: str) -> int:
    """An int, also from a numeric string (zSlotIndex) or an integral float."""
    if isinstance(value, bool):
        raise _fail(path, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _fail(path, f"expected an integer, got {value!r}"[:200])


def _opt_int(value: Any, path: str) -> int | None:
    return None if value is None else _int(value, path)


def _node_id(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise _fail(path, f"node id must be an integer or a non-empty string, got {value!r}"[:200])
    return str(value)


def _type(value: Any, path: str) -> str:
    """zDataType: a string, an array of strings (joined with ','), or a number (0 means any)."""
    if value is None:
        return "*"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "*" if value == 0 else str(value)
    raise _fail(path, f"slot type must be a string, an array or a number, got {value!r}"[:200])


def _str(value: Any, path: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _parse_node(raw: Any, path: str) -> UiNode:
    data = _obj(raw, path)
    node_id = _node_id(data.get("id"), f"{path}.id")
    type_ = _str(data.get("type"), f"{path}.type")
    mode = _int(data.get("mode", 0) if data.get("mode") is not None else 0, f"{path}.mode")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise _fail(f"{path}.title", "expected a string")
    inputs = []
    for i, item in enumerate(_list(data.get("inputs"), f"{path}.inputs")):
        ipath = f"{path}.inputs[{i}]"
        slot = _obj(item, ipath)
        widget = slot.get("widget")
        widget_name = None
        if widget is not None:
            widget_name = _str(_obj(widget, f"{ipath}.widget").get("name"), f"{ipath}.widget.name")
        inputs.append(
            UiInput(
                name=_str(slot.get("name"), f"{ipath}.name"),
                type=_type(slot.get("type"), f"{ipath}.type"),
                link=_opt_int(slot.get("link"), f"{ipath}.link"),
                widget=widget_name,
            )
        )
    outputs = []
    for i, item in enumerate(_list(data.get("outputs"), f"{path}.outputs")):
        opath = f"{path}.outputs[{i}]"
        slot = _obj(item, opath)
        links = tuple(_int(v, f"{opath}.links[{j}]") for j, v in enumerate(_list(slot.get("links"), f"{opath}.links")))
        outputs.append(
            UiOutput(
                name=_str(slot.get("name"), f"{opath}.name", default=""),
                type=_type(slot.get("type"), f"{opath}.type"),
                links=links,
            )
        )
    values = data.get("widgets_values")
    if values is not None and not isinstance(values, list | dict):
        raise _fail(f"{path}.widgets_values", f"expected a list or an object, got {type(values).__name__}")
    props = data.get("properties")
    order = data.get("order")
    return UiNode(
        id=node_id,
        type=type_,
        mode=mode,
        title=title,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        widgets_values=values,
        properties=props if isinstance(props, dict) else {},
        order=order if isinstance(order, int) and not isinstance(order, bool) else None,
        path=path,
    )


def _parse_link(raw: Any, path: str) -> UiLink:
    if isinstance(raw, list):
        if len(raw) < 5:
            raise _fail(
                path,
                f"a link tuple needs [id, origin_id, origin_slot, target_id, target_slot, type], got {len(raw)} items",
            )
        link_id, origin_id, origin_slot, target_id, target_slot = raw[:5]
        type_ = raw[5] if len(raw) > 5 else None
        parent = None
    else:
        data = _obj(raw, path)
        link_id, origin_id, origin_slot = data.get("id"), data.get("origin_id"), data.get("origin_slot")
        target_id, target_slot, type_ = data.get("target_id"), data.get("target_slot"), data.get("type")
        parent = data.get("parentId")
    return UiLink(
        id=_int(link_id, f"{path}.id"),
        origin_id=_node_id(origin_id, f"{path}.origin_id"),
        origin_slot=_int(origin_slot, f"{path}.origin_slot"),
        target_id=_node_id(target_id, f"{path}.target_id"),
        target_slot=_int(target_slot, f"{path}.target_slot"),
        type=_type(type_, f"{path}.type"),
        parent_id=_opt_int(parent, f"{path}.parentId"),
    )


def _parse_reroutes(raw: Any, path: str) -> dict[int, Reroute]:
    reroutes: dict[int, Reroute] = {}
    for i, item in enumerate(_list(raw, path)):
        rpath = f"{path}[{i}]"
        data = _obj(item, rpath)
        link_ids = tuple(
            _int(v, f"{rpath}.linkIds[{j}]") for j, v in enumerate(_list(data.get("linkIds"), f"{rpath}.linkIds"))
        )
        reroute = Reroute(
            id=_int(data.get("id"), f"{rpath}.id"),
            parent_id=_opt_int(data.get("parentId"), f"{rpath}.parentId"),
            link_ids=link_ids,
            floating=bool(data.get("floating")),
        )
        reroutes[reroute.id] = reroute
    for i, reroute in enumerate(reroutes.values()):
        if reroute.parent_id is not None and reroute.parent_id not in reroutes:
            raise _fail(
                f"{path}[{i}].parentId", f"reroute {reroute.id} names parent {reroute.parent_id}, which does not exist"
            )
    return reroutes


def _parse_graph(data: dict[str, Any], path: str, extra: Mapping[str, Any]) -> UiGraph:
    prefix = f"{path}." if path else ""
    nodes = tuple(
        _parse_node(item, f"{prefix}nodes[{i}]")
        for i, item in enumerate(_list(data.get("nodes"), f"{prefix}nodes", optional=False))
    )
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            raise _fail(f"{node.path}.id", f"node id {node.id} is used twice")
        seen.add(node.id)
    links: dict[int, UiLink] = {}
    for i, item in enumerate(_list(data.get("links"), f"{prefix}links")):
        if item is None:
            continue
        link = _parse_link(item, f"{prefix}links[{i}]")
        links[link.id] = link
    reroutes = _parse_reroutes(data.get("reroutes", extra.get("reroutes")), f"{prefix}reroutes")
    for i, item in enumerate(_list(extra.get("linkExtensions"), f"{prefix}extra.linkExtensions")):
        epath = f"{prefix}extra.linkExtensions[{i}]"
        ext = _obj(item, epath)
        link_id = _int(ext.get("id"), f"{epath}.id")
        parent = _opt_int(ext.get("parentId"), f"{epath}.parentId")
        if link_id in links:
            old = links[link_id]
            links[link_id] = UiLink(
                old.id, old.origin_id, old.origin_slot, old.target_id, old.target_slot, old.type, parent
            )
    for i, link in enumerate(links.values()):
        if link.parent_id is not None and link.parent_id not in reroutes:
            raise _fail(
                f"{prefix}links[{i}].parentId", f"link {link.id} passes reroute {link.parent_id}, which does not exist"
            )
    groups = []
    for i, item in enumerate(_list(data.get("groups"), f"{prefix}groups")):
        gpath = f"{prefix}groups[{i}]"
        group = _obj(item, gpath)
        bounding = _list(group.get("bounding"), f"{gpath}.bounding")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounding):
            raise _fail(f"{gpath}.bounding", "expected numbers [x, y, w, h]")
        groups.append(UiGroup(title=str(group.get("title") or ""), bounding=tuple(float(v) for v in bounding)))
    return UiGraph(nodes=nodes, links=links, reroutes=reroutes, groups=tuple(groups), path=path)


def _parse_io(raw: Any, path: str) -> tuple[SubgraphIO, ...]:
    result = []
    for i, item in enumerate(_list(raw, path)):
        ipath = f"{path}[{i}]"
        data = _obj(item, ipath)
        link_ids = tuple(
            _int(v, f"{ipath}.linkIds[{j}]") for j, v in enumerate(_list(data.get("linkIds"), f"{ipath}.linkIds"))
        )
        result.append(
            SubgraphIO(
                id=str(data.get("id", "")),
                name=_str(data.get("name"), f"{ipath}.name"),
                type=_type(data.get("type"), f"{ipath}.type"),
                link_ids=link_ids,
            )
        )
    return tuple(result)


def _parse_subgraphs(definitions: Any, path: str, into: dict[str, SubgraphDef]) -> None:
    if definitions is None:
        return
    defs = _obj(definitions, path)
    for i, item in enumerate(_list(defs.get("subgraphs"), f"{path}.subgraphs")):
        spath = f"{path}.subgraphs[{i}]"
        data = _obj(item, spath)
        sub_id = _str(data.get("id"), f"{spath}.id")
        raw_extra = data.get("extra")
        extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
        into[sub_id] = SubgraphDef(
            id=sub_id,
            name=str(data.get("name") or sub_id),
            graph=_parse_graph(data, spath, extra),
            inputs=_parse_io(data.get("inputs"), f"{spath}.inputs"),
            outputs=_parse_io(data.get("outputs"), f"{spath}.outputs"),
        )
        _parse_subgraphs(data.get("definitions"), f"{spath}.definitions", into)


def parse_ui(data: Any) -> UiWorkflow:
    """Parse and validate a UI-format workflow (schema 0.4 or 1)."""
    root = _obj(data, "")
    version = root.get("version", 0.4)
    if isinstance(version, bool) or not isinstance(version, int | float):
        raise _fail("version", f"expected a number (0.4 or 1), got {version!r}"[:200])
    extra = root.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise _fail("extra", f"expected an object, got {type(extra).__name__}")
    extra_map: dict[str, Any] = extra or {}
    graph = _parse_graph(root, "", extra_map)
    subgraphs: dict[str, SubgraphDef] = {}
    _parse_subgraphs(root.get("definitions"), "definitions", subgraphs)
    return UiWorkflow(version=float(version), graph=graph, subgraphs=subgraphs, extra=extra_map, raw=root)
