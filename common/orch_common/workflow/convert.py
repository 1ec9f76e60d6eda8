"""UI workflow → API prompt, the way the ComfyUI frontend's ``graphToPrompt`` (1.27) does it.

Steps, mirroring the frontend:

1. Flatten: every node becomes an executable node with id ``outer:inner`` through subgraph instances
   (recursively); virtual nodes (PrimitiveNode, Reroute, Note, MarkdownNote, subgraph instances) stay in the
   map for link resolution but are not emitted.
2. Widgets: the class's widget list (``ClassInfo.widget_slots``, including the hidden control and upload
   widgets) takes ``widgets_values`` positionally (or by name when it is an object).
3. PrimitiveNodes push their value into every widget they feed (also through legacy Reroute nodes).
4. Emit every node that is not virtual, muted (mode 2) or bypassed (mode 4): its serialisable widgets, then
   each input slot resolved through reroutes, bypassed nodes (frontend slot-matching rules) and subgraph
   boundaries; an unconnected subgraph input yields the instance's promoted widget value.
5. Drop link inputs that point at nodes not emitted (muted ones).

Frontend-only transforms that need its JavaScript (dynamic prompts ``{a|b}``, ``serializeValue`` hooks,
"Run widget replace on values") are not reproduced: values are passed through as saved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orch_common.workflow.errors import ConversionError, MissingNodeClassError
from orch_common.workflow.object_info import ClassInfo, LinkInput, ObjectInfoIndex, WidgetSlot
from orch_common.workflow.ui import (
    SUBGRAPH_INPUT_NODE,
    NodeMode,
    SubgraphDef,
    UiGraph,
    UiNode,
    UiWorkflow,
    parse_ui,
)

__all__ = ["FRONTEND_VIRTUAL_TYPES", "convert_ui_to_api", "wrap_value"]

FRONTEND_VIRTUAL_TYPES = frozenset({"PrimitiveNode", "Reroute", "Note", "MarkdownNote"})


def wrap_value(value: Any) -> Any:
    """Array literals must be wrapped or the backend reads them as links."""
    return {"__value__": value} if isinstance(value, list) else value


@dataclass
class _Slot:
    name: str
    type: str
    link: int | None


@dataclass
class _Widget:
    name: str
    value: Any
    in_api: bool


@dataclass
class _Exec:
    id: str
    node: UiNode
    graph: UiGraph
    path: tuple[str, ...]
    parent: _Exec | None
    info: ClassInfo | None
    subgraph: SubgraphDef | None = None
    inputs: list[_Slot] = field(default_factory=list)
    widgets: list[_Widget] = field(default_factory=list)
    # promoted widgets of a subgraph instance: input name → (inner exec id, inner widget name)
    promoted: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def virtual(self) -> bool:
        return self.subgraph is not None or self.node.type in FRONTEND_VIRTUAL_TYPES

    def widget(self, name: str) -> _Widget | None:
        return next((w for w in self.widgets if w.name == name), None)


@dataclass(frozen=True)
class _Resolved:
    origin_id: str = ""
    origin_slot: int = 0
    has_value: bool = False
    value: Any = None


def _valid_connection(a: str, b: str) -> bool:
    """litegraph ``isValidConnection``: '*'/'' match anything; comma lists match on any member."""
    if a in ("", "*", "0") or b in ("", "*", "0") or a == b:
        return True
    la, lb = a.lower(), b.lower()
    if "," not in la and "," not in lb:
        return la == lb
    return any(_valid_connection(x, y) for x in la.split(",") for y in lb.split(","))


class _Converter:
    def __init__(self, ui: UiWorkflow, index: ObjectInfoIndex) -> None:
        self.ui = ui
        self.index = index
        self.execs: dict[str, _Exec] = {}

    # -- flattening -------------------------------------------------------------------------------
    def flatten(self, graph: UiGraph, path: tuple[str, ...], parent: _Exec | None, stack: tuple[str, ...]) -> None:
        ordered = _execution_order(graph) if not path else list(graph.nodes)
        for node in ordered:
            exec_id = ":".join((*path, node.id))
            sub = self.ui.subgraphs.get(node.type)
            if sub is not None:
                if sub.id in stack:
                    raise ConversionError(f"subgraph {sub.name!r} contains itself", node.path)
                ex = _Exec(exec_id, node, graph, path, parent, None, subgraph=sub)
                self.execs[exec_id] = ex
                self.flatten(sub.graph, (*path, node.id), ex, (*stack, sub.id))
                continue
            info = self.index.get_class(node.type)
            if (
                info is None
                and node.type not in FRONTEND_VIRTUAL_TYPES
                and node.mode
                not in (
                    NodeMode.NEVER,
                    NodeMode.BYPASS,
                )
            ):
                if node.type.startswith(("workflow>", "workflow/")):
                    raise ConversionError(
                        f"node {exec_id} is a legacy group node ({node.type!r}); convert it to a subgraph in the "
                        "editor first",
                        node.path,
                    )
                raise MissingNodeClassError(exec_id, node.type, node.path)
            self.execs[exec_id] = _Exec(exec_id, node, graph, path, parent, info)

    # -- slots and widgets ----------------------------------------------------------------------
    def prepare(self, ex: _Exec) -> None:
        saved = {i.name: i for i in ex.node.inputs}
        if ex.subgraph is not None:
            ex.inputs = [
                _Slot(io.name, io.type, saved[io.name].link if io.name in saved else None) for io in ex.subgraph.inputs
            ]
            self._promote(ex)
            return
        if ex.info is None:
            ex.inputs = [_Slot(i.name, i.type, i.link) for i in ex.node.inputs]
            values = ex.node.widgets_values
            if ex.node.type == "PrimitiveNode" and isinstance(values, list) and values:
                # Without a saved value the primitive adopts its target's value: nothing to push.
                ex.widgets = [_Widget("value", values[0], in_api=False)]
            return
        known = set()
        for spec in ex.info.socket_order():
            known.add(spec.name)
            slot = saved.get(spec.name)
            ex.inputs.append(_Slot(spec.name, spec.type, slot.link if slot else None))
        ex.inputs.extend(_Slot(i.name, i.type, i.link) for i in ex.node.inputs if i.name not in known)
        ex.widgets = _apply_values(ex.info, ex.node)

    def _promote(self, ex: _Exec) -> None:
        assert ex.subgraph is not None
        graph = ex.subgraph.graph
        inner_path = (*ex.path, ex.node.id)
        for io in ex.subgraph.inputs:
            for link_id in io.link_ids:
                link = graph.links.get(link_id)
                target = graph.node(link.target_id) if link else None
                if target is None:
                    continue
                slot = next((i for i in target.inputs if i.link == link_id), None)
                inner = self.execs.get(":".join((*inner_path, target.id)))
                if slot is None or inner is None:
                    continue
                widget_name = slot.widget or slot.name
                if inner.widget(widget_name) is None and not inner.promoted.get(widget_name):
                    continue
                ex.promoted[io.name] = (inner.id, widget_name)
                break
        values = ex.node.widgets_values
        for k, name in enumerate(ex.promoted):
            if isinstance(values, list) and k < len(values):
                ex.widgets.append(_Widget(name, values[k], in_api=False))
            elif isinstance(values, dict) and name in values:
                ex.widgets.append(_Widget(name, values[name], in_api=False))
            else:
                ex.widgets.append(_Widget(name, self._inner_value(ex, name), in_api=False))

    def _inner_value(self, ex: _Exec, name: str) -> Any:
        inner_id, widget_name = ex.promoted[name]
        inner = self.execs[inner_id]
        widget = inner.widget(widget_name)
        return widget.value if widget else None

    # -- PrimitiveNode ----------------------------------------------------------------------------
    def push_primitives(self) -> None:
        for ex in self.execs.values():
            if ex.node.type != "PrimitiveNode" or not ex.node.outputs or not ex.widgets:
                continue
            value = ex.widgets[0].value
            self._push(ex.graph, ex.path, ex.node.outputs[0].links, value, set())

    def _push(
        self, graph: UiGraph, path: tuple[str, ...], link_ids: tuple[int, ...], value: Any, seen: set[int]
    ) -> None:
        for link_id in link_ids:
            link = graph.links.get(link_id)
            if link is None or link_id in seen:
                continue
            seen.add(link_id)
            target = self.execs.get(":".join((*path, link.target_id)))
            if target is None:
                continue
            if target.node.type == "Reroute":
                for out in target.node.outputs:
                    self._push(graph, path, out.links, value, seen)
                continue
            slot = next((i for i in target.node.inputs if i.link == link_id), None)
            widget = target.widget(slot.widget or slot.name) if slot else None
            if widget is not None:
                widget.value = value

    # -- link resolution (ExecutableNodeDTO.resolveInput / resolveOutput) -----------------------
    def resolve_input(self, ex: _Exec, slot: int, visited: set[str], type_: str | None = None) -> _Resolved | None:
        key = f"{ex.id}[I]{slot}"
        if key in visited:
            raise ConversionError(f"circular link while resolving input {slot} of node {ex.id}", ex.node.path)
        visited.add(key)
        if slot >= len(ex.inputs):
            return None
        inp = ex.inputs[slot]
        if inp.link is None:
            return None
        link = ex.graph.links.get(inp.link)
        if link is None:
            raise ConversionError(
                f"input {inp.name!r} of node {ex.id} uses link {inp.link}, which does not exist", ex.node.path
            )
        if ex.parent is not None and link.origin_id == SUBGRAPH_INPUT_NODE:
            return self._resolve_boundary(ex.parent, link.origin_slot, visited, inp.name)
        origin = self.execs.get(":".join((*ex.path, link.origin_id)))
        if origin is None:
            raise ConversionError(
                f"link {link.id} into node {ex.id} comes from node {link.origin_id}, which does not exist",
                ex.node.path,
            )
        return self.resolve_output(origin, link.origin_slot, type_ or inp.type, visited)

    def _resolve_boundary(self, sg: _Exec, slot: int, visited: set[str], name: str) -> _Resolved | None:
        if slot >= len(sg.inputs):
            raise ConversionError(f"subgraph node {sg.id} has no input slot {slot} (for {name!r})", sg.node.path)
        if sg.inputs[slot].link is None:
            widget = sg.widget(sg.inputs[slot].name)
            return _Resolved(has_value=True, value=widget.value) if widget else None
        return self.resolve_input(sg, slot, visited)

    def resolve_output(self, ex: _Exec, slot: int, type_: str, visited: set[str]) -> _Resolved | None:
        key = f"{ex.id}[O]{slot}"
        if key in visited:
            raise ConversionError(f"circular link while resolving output {slot} of node {ex.id}", ex.node.path)
        visited.add(key)
        if ex.node.mode == NodeMode.BYPASS:
            match = self._bypass_slot(ex, slot, type_)
            return None if match < 0 else self.resolve_input(ex, match, visited)
        if ex.subgraph is not None:
            return self._resolve_subgraph_output(ex, slot, type_, visited)
        if ex.virtual:
            return self.resolve_input(ex, slot, visited, type_) if slot < len(ex.inputs) else None
        return _Resolved(origin_id=ex.id, origin_slot=slot)

    def _resolve_subgraph_output(self, ex: _Exec, slot: int, type_: str, visited: set[str]) -> _Resolved | None:
        assert ex.subgraph is not None
        if slot >= len(ex.subgraph.outputs):
            raise ConversionError(f"subgraph node {ex.id} has no output slot {slot}", ex.node.path)
        link_ids = ex.subgraph.outputs[slot].link_ids
        link = ex.subgraph.graph.links.get(link_ids[0]) if link_ids else None
        if link is None:
            return None
        if link.origin_id == SUBGRAPH_INPUT_NODE:
            return self._resolve_boundary(ex, link.origin_slot, visited, ex.subgraph.outputs[slot].name)
        inner = self.execs.get(":".join((*ex.path, ex.node.id, link.origin_id)))
        if inner is None:
            raise ConversionError(f"subgraph output {slot} of node {ex.id} comes from a missing node", ex.node.path)
        return self.resolve_output(inner, link.origin_slot, type_, visited)

    def _bypass_slot(self, ex: _Exec, slot: int, type_: str) -> int:
        """``#getBypassSlotIndex``: which input of a bypassed node stands in for output ``slot``."""
        inputs = ex.inputs
        if type_ in ("*", ""):
            if not inputs:
                # The frontend resolves input 0 here and throws (SlotIndexError): the graph cannot be queued.
                raise ConversionError(
                    f"bypassed node {ex.id} has no inputs to pass to an any-type consumer", ex.node.path
                )
            return slot if len(inputs) > slot else 0
        if ex.info is not None and slot < len(ex.info.outputs):
            output_type = ex.info.outputs[slot].type
        elif slot < len(ex.node.outputs):
            output_type = ex.node.outputs[slot].type
        else:
            output_type = "*"
        if slot < len(inputs):
            opposite = inputs[slot].type
            if _valid_connection(opposite, output_type) and _valid_connection(opposite, type_):
                return slot
        for i, inp in enumerate(inputs):
            if inp.type == type_:
                return i
        for i, inp in enumerate(inputs):
            if _valid_connection(inp.type, output_type) and _valid_connection(inp.type, type_):
                return i
        return -1

    # -- output -------------------------------------------------------------------------------------
    def emit(self) -> dict[str, Any]:
        output: dict[str, Any] = {}
        for ex in self.execs.values():
            if ex.virtual or ex.node.mode in (NodeMode.NEVER, NodeMode.BYPASS) or ex.info is None:
                continue
            inputs: dict[str, Any] = {w.name: wrap_value(w.value) for w in ex.widgets if w.in_api}
            for i, slot in enumerate(ex.inputs):
                resolved = self.resolve_input(ex, i, set())
                if resolved is None:
                    continue
                if resolved.has_value:
                    inputs[slot.name] = wrap_value(resolved.value)
                else:
                    inputs[slot.name] = [resolved.origin_id, resolved.origin_slot]
            output[ex.id] = {
                "inputs": inputs,
                "class_type": ex.node.type,
                "_meta": {"title": ex.node.title or ex.info.display_name},
            }
        for node in output.values():
            for name, value in list(node["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del node["inputs"][name]
        return output

    def run(self) -> dict[str, Any]:
        self.flatten(self.ui.graph, (), None, ())
        # Inner nodes first so subgraph instances can read their inner widgets' values.
        for ex in sorted(self.execs.values(), key=lambda e: -len(e.path)):
            self.prepare(ex)
        self.push_primitives()
        return self.emit()


def _execution_order(graph: UiGraph) -> list[UiNode]:
    """litegraph ``computeExecutionOrder``: Kahn's order over links, leftovers (cycles) by id like JS keys."""
    remaining = {n.id: sum(1 for i in n.inputs if i.link is not None) for n in graph.nodes}
    queue = deque(n for n in graph.nodes if remaining[n.id] == 0)
    done: dict[str, UiNode] = {}
    visited: set[int] = set()
    while queue:
        node = queue.popleft()
        done[node.id] = node
        for out in node.outputs:
            for link_id in out.links:
                link = graph.links.get(link_id)
                if link is None or link_id in visited:
                    continue
                visited.add(link_id)
                target = graph.node(link.target_id)
                if target is None or target.id not in remaining:
                    continue
                remaining[target.id] -= 1
                if remaining[target.id] == 0 and target.id not in done:
                    queue.append(target)
    left = [n for n in graph.nodes if n.id not in done]
    numeric = sorted((n for n in left if n.id.isdigit()), key=lambda n: int(n.id))
    return [*done.values(), *numeric, *(n for n in left if not n.id.isdigit())]


def _apply_values(info: ClassInfo, node: UiNode) -> list[_Widget]:
    widgets = [_Widget(s.name, s.default, s.in_api) for s in info.widget_slots]
    values = node.widgets_values
    if isinstance(values, dict):
        for w in widgets:
            if w.name in values:
                w.value = values[w.name]
        return widgets
    if not values:
        return widgets
    values = _migrate_force_input_values(info, info.widget_slots, values)
    for w, v in zip(widgets, values, strict=False):
        w.value = v
    return widgets


def _migrate_force_input_values(info: ClassInfo, slots: tuple[WidgetSlot, ...], values: list[Any]) -> list[Any]:
    """Old workflows stored values for ``forceInput`` inputs; drop them when the count says so."""
    forced = [s for s in info.inputs if isinstance(s, LinkInput) and s.force_input]
    if not forced:
        return values
    names = {s.name for s in slots}
    original = [s for s in info.inputs if s.name in names or (isinstance(s, LinkInput) and s.force_input)]
    count = sum(
        2 if (getattr(s, "control_after_generate", False) or s.name in ("seed", "noise_seed")) else 1 for s in original
    )
    if count != len(values):
        return values
    kept = []
    for i, v in enumerate(values):
        spec = original[i] if i < len(original) else None
        if not (isinstance(spec, LinkInput) and spec.force_input):
            kept.append(v)
    return kept


def convert_ui_to_api(ui: UiWorkflow | dict[str, Any], index: ObjectInfoIndex) -> dict[str, Any]:
    """Convert a UI workflow to the API prompt the frontend would queue, checked against ``index``.

    Raises ``MissingNodeClassError`` (naming node id and class) for an active node whose class the
    server lacks, ``ConversionError`` for broken links or circular graphs, ``WorkflowParseError`` for
    malformed input.
    """
    workflow = ui if isinstance(ui, UiWorkflow) else parse_ui(ui)
    return _Converter(workflow, index).run()
