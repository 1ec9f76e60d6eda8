"""Planning a run of a project: the graph order, the node selection, the sweep items and each item's prompt.

Pure functions over a `ProjectDocument`, shared by the API (which validates a run before accepting it) and the
scheduler (which expands an accepted run into jobs). Every problem is a `ProjectRunError` whose `code` is
stable and whose message names the node, edge, parameter or value at fault::

    ProjectRunError (code)
        unknown_node       a selected or swept node, or an edge end, that the project does not have
        unknown_port       an edge port that names a node or input the node's workflow does not have
        edge_kind          an edge whose kind does not fit its source output or target input
        cycle              the graph has a cycle (named by the nodes on it)
        unknown_parameter  a swept parameter the node neither exposes nor has as `<api node>.<input>`
        bad_value          a value the parameter rejects (type, range, choices)
        bad_sweep          a sweep too large for the limits, or a zip over axes of different lengths
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orch_common.contracts.projects import ProjectDocument, ProjectEdge, ProjectNode
from orch_common.contracts.runs import Sweep
from orch_common.workflow.errors import PatchError, WorkflowError
from orch_common.workflow.exposed import ExposedParameter, ExposedWorkflow, patch
from orch_common.workflow.object_info import ObjectInfoIndex
from orch_common.workflow.ports import ArtifactKind, find_ports
from orch_common.workflow.validate import wrap_if_list

__all__ = [
    "MAX_RUN_JOBS",
    "SEED_INPUTS",
    "ItemValues",
    "ProjectRunError",
    "RawValue",
    "RunPlan",
    "check_edges",
    "checkpoint_of",
    "graph_order",
    "item_prompt",
    "plan_run",
    "port_address",
    "raw_values",
    "workflow_signature",
]

MAX_RUN_JOBS = 10_000
"""Items × nodes of one run: a larger sweep is refused (split it into several runs)."""

SEED_INPUTS = ("seed", "noise_seed")
_SEED_MODULUS = 2**64
_CHECKPOINT_INPUTS = ("ckpt_name", "unet_name")

ItemValues = dict[tuple[str, str], Any]
"""One sweep item: (graph node id, parameter) → value."""


class ProjectRunError(ValueError):
    """A run the project cannot carry out; `code` is stable (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run executes: its nodes in graph order, the upstream nodes it borrows and one values dict per item."""

    nodes: tuple[str, ...]
    external: tuple[str, ...]  # upstream nodes outside the run whose latest succeeded outputs are used
    items: tuple[ItemValues, ...]
    repeat: int
    vary_seeds: bool

    def seed_offset(self, item: int) -> int:
        return item % self.repeat if self.vary_seeds and self.repeat > 1 else 0


def port_address(port: str) -> tuple[str, str]:
    """`<api node id>.<input or output name>` split in two (node ids may not contain a dot; names may)."""
    node_id, dot, name = port.partition(".")
    if not dot or not node_id or not name:
        raise ProjectRunError("unknown_port", f"port {port!r} is not `<api node id>.<name>`")
    return node_id, name


def _nodes(document: ProjectDocument) -> dict[str, ProjectNode]:
    return {n.id: n for n in document.nodes}


def _incoming(document: ProjectDocument) -> dict[str, list[ProjectEdge]]:
    incoming: dict[str, list[ProjectEdge]] = {n.id: [] for n in document.nodes}
    for edge in document.edges:
        incoming.setdefault(edge.target, []).append(edge)
    return incoming


def graph_order(document: ProjectDocument) -> list[str]:
    """Every node id in an order where each comes after its upstream nodes (document order among equals)."""
    nodes = _nodes(document)
    for edge in document.edges:
        for end in (edge.source, edge.target):
            if end not in nodes:
                raise ProjectRunError(
                    "unknown_node", f"edge {edge.id!r} names node {end!r}, which is not in the project"
                )
    indegree = {n: 0 for n in nodes}
    downstream: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in document.edges:
        indegree[edge.target] += 1
        downstream[edge.source].append(edge.target)
    position = {n.id: i for i, n in enumerate(document.nodes)}
    ready = sorted((n for n, d in indegree.items() if d == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for target in downstream[node]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
                ready.sort(key=position.__getitem__)
    if len(order) < len(nodes):
        stuck = sorted((n for n, d in indegree.items() if d > 0), key=position.__getitem__)
        raise ProjectRunError("cycle", f"the project graph has a cycle through nodes {stuck}")
    return order


_COMPATIBLE: dict[str, frozenset[str]] = {
    "IMAGE": frozenset({"IMAGE", "MASK"}),
    "MASK": frozenset({"MASK", "IMAGE"}),
}


def check_edges(document: ProjectDocument) -> None:
    """Each edge's ports exist in its nodes' workflows and its kind fits both ends (as far as they are known)."""
    nodes = _nodes(document)
    empty = ObjectInfoIndex({})
    for edge in document.edges:
        source, target = nodes.get(edge.source), nodes.get(edge.target)
        if source is None or target is None:
            missing = edge.source if source is None else edge.target
            raise ProjectRunError(
                "unknown_node", f"edge {edge.id!r} names node {missing!r}, which is not in the project"
            )
        if edge.source == edge.target:
            raise ProjectRunError("cycle", f"edge {edge.id!r} connects node {edge.source!r} to itself")
        kind = edge.kind.upper()
        if kind not in ArtifactKind.__members__:
            known = ", ".join(ArtifactKind.__members__)
            raise ProjectRunError("edge_kind", f"edge {edge.id!r} has kind {edge.kind!r} (known: {known})")
        src_node, _ = port_address(edge.source_port)
        if src_node not in source.workflow_api:
            raise ProjectRunError(
                "unknown_port",
                f"edge {edge.id!r}: node {edge.source!r} has no API node {src_node!r} for {edge.source_port!r}",
            )
        tgt_node, tgt_input = port_address(edge.target_port)
        tgt = target.workflow_api.get(tgt_node)
        if not isinstance(tgt, dict) or tgt_input not in (tgt.get("inputs") or {}):
            raise ProjectRunError(
                "unknown_port", f"edge {edge.id!r}: node {edge.target!r} has no input {edge.target_port!r}"
            )
        try:
            outs = {p.id: p for p in find_ports(source.workflow_api, empty).outputs}
            ins = {p.id: p for p in find_ports(target.workflow_api, empty).inputs}
        except WorkflowError:
            continue
        fits = _COMPATIBLE.get(kind, frozenset({kind}))
        out = outs.get(edge.source_port)
        if out is not None and out.kind.value not in fits:
            raise ProjectRunError(
                "edge_kind",
                f"edge {edge.id!r} carries {kind} but {edge.source_port!r} of {edge.source!r} gives {out.kind.value}",
            )
        inp = ins.get(edge.target_port)
        if inp is not None and not fits & {k.value for k in (inp.provides or (inp.kind,))}:
            raise ProjectRunError(
                "edge_kind",
                f"edge {edge.id!r} carries {kind} but {edge.target_port!r} of {edge.target!r} takes {inp.kind.value}",
            )


def _exposed(node: ProjectNode) -> ExposedWorkflow:
    try:
        parameters = [ExposedParameter.model_validate(p) for p in node.exposed]
    except ValueError as exc:
        raise ProjectRunError("bad_value", f"node {node.id!r}: its exposed parameters are malformed: {exc}") from None
    return ExposedWorkflow(api=node.workflow_api, parameters=parameters)


def _raw_address(node: ProjectNode, parameter: str) -> tuple[str, str] | None:
    api_node, dot, input_name = parameter.partition(".")
    target = node.workflow_api.get(api_node)
    if dot and isinstance(target, dict) and input_name in (target.get("inputs") or {}):
        return api_node, input_name
    return None


def item_prompt(node: ProjectNode, values: Mapping[str, Any], seed_offset: int = 0) -> dict[str, Any]:
    """The node's API prompt with its saved `values`, then `values` of one item (parameter → value), patched in.

    A parameter is an exposed parameter id, or `<api node id>.<input>` set as is. Seeds move by `seed_offset`.
    """
    exposed = _exposed(node)
    merged = {**node.values, **values}
    checked = {k: v for k, v in merged.items() if exposed.parameter(k) is not None}
    try:
        prompt = patch(node.workflow_api, checked, exposed)
    except PatchError as exc:
        raise ProjectRunError("bad_value", f"node {node.id!r}: {exc}") from None
    for key, value in merged.items():
        if key in checked:
            continue
        address = _raw_address(node, key)
        if address is None:
            known = ", ".join(p.id for p in exposed.parameters) or "none"
            raise ProjectRunError(
                "unknown_parameter",
                f"node {node.id!r} has no parameter {key!r} (exposed: {known}; or `<api node>.<input>`)",
            )
        prompt[address[0]]["inputs"][address[1]] = wrap_if_list(copy.deepcopy(value))
    if seed_offset:
        for api in prompt.values():
            inputs = api.get("inputs") if isinstance(api, dict) else None
            if not isinstance(inputs, dict):
                continue
            for name in SEED_INPUTS:
                seed = inputs.get(name)
                if isinstance(seed, int) and not isinstance(seed, bool):
                    inputs[name] = (seed + seed_offset) % _SEED_MODULUS
    return prompt


def plan_run(
    document: ProjectDocument,
    selection: Iterable[str],
    sweep: Sweep,
    has_outputs: Collection[str] = (),
    *,
    check_values: bool = True,
) -> RunPlan:
    """Validate a run and plan it; `has_outputs`: nodes with a succeeded job whose outputs a run may reuse.

    The run executes the selected nodes (all when none is selected) and, upstream of them, every node without
    reusable outputs; upstream nodes with outputs are borrowed (`RunPlan.external`). With `check_values`, every
    item's values are patched into a copy of its prompt, so a bad value is refused now and not in the middle.
    """
    nodes = _nodes(document)
    order = graph_order(document)
    check_edges(document)
    chosen = list(dict.fromkeys(selection))
    for node_id in chosen:
        if node_id not in nodes:
            raise ProjectRunError("unknown_node", f"the selection names node {node_id!r}, which is not in the project")
    if not chosen:
        chosen = list(order)
    if not chosen:
        raise ProjectRunError("unknown_node", "the project has no nodes to run")
    incoming = _incoming(document)
    swept = {axis.node for axis in sweep.axes}
    has_outputs = [n for n in has_outputs if n not in swept]  # a swept node is run, never borrowed
    included = set(chosen)
    external: set[str] = set()
    stack = list(chosen)
    while stack:
        for edge in incoming.get(stack.pop(), ()):
            upstream = edge.source
            if upstream in included or upstream in external:
                continue
            if upstream in has_outputs:
                external.add(upstream)
            else:
                included.add(upstream)
                stack.append(upstream)
    run_nodes = tuple(n for n in order if n in included)
    for axis in sweep.axes:
        if axis.node not in nodes:
            raise ProjectRunError("unknown_node", f"the sweep names node {axis.node!r}, which is not in the project")
        if axis.node not in included:
            raise ProjectRunError(
                "unknown_node", f"the sweep names node {axis.node!r}, which this run does not execute"
            )
        node = nodes[axis.node]
        if _exposed(node).parameter(axis.parameter) is None and _raw_address(node, axis.parameter) is None:
            known = ", ".join(str(p.get("id")) for p in node.exposed) or "none"
            raise ProjectRunError(
                "unknown_parameter",
                f"node {axis.node!r} has no parameter {axis.parameter!r} (exposed: {known}; or `<api node>.<input>`)",
            )
    try:
        items = sweep.items()
    except ValueError as exc:
        raise ProjectRunError("bad_sweep", str(exc)) from None
    if len(items) * len(run_nodes) > MAX_RUN_JOBS:
        raise ProjectRunError(
            "bad_sweep",
            f"the run would submit {len(items)} items × {len(run_nodes)} nodes = {len(items) * len(run_nodes)} jobs, "
            f"more than {MAX_RUN_JOBS}",
        )
    if check_values:
        seen: set[tuple[str, str]] = set()
        for values in items:
            for (node_id, parameter), value in values.items():
                key = (node_id, json.dumps([parameter, value], sort_keys=True, default=str))
                if key in seen:
                    continue
                seen.add(key)
                item_prompt(nodes[node_id], {parameter: value})
        for node_id in run_nodes:
            item_prompt(nodes[node_id], {})
    return RunPlan(
        nodes=run_nodes,
        external=tuple(n for n in order if n in external),
        items=tuple(items),
        repeat=sweep.repeat,
        vary_seeds=sweep.vary_seeds,
    )


@dataclass(frozen=True)
class RawValue:
    """A value a run sets by `<api node>.<input>`, which no exposed parameter types: for the caller to check
    against a server's object_info."""

    node: str
    api_node: str
    class_type: str
    input: str
    value: Any


def raw_values(document: ProjectDocument, plan: RunPlan) -> list[RawValue]:
    """The distinct values the run's nodes set by `<api node>.<input>`: saved in the node and swept."""
    nodes = _nodes(document)
    exposed = {node_id: _exposed(nodes[node_id]) for node_id in plan.nodes}
    out: dict[tuple[str, str, str], RawValue] = {}

    def add(node: ProjectNode, parameter: str, value: Any) -> None:
        address = _raw_address(node, parameter) if exposed[node.id].parameter(parameter) is None else None
        if address is None:
            return
        key = (node.id, parameter, json.dumps(value, sort_keys=True, default=str))
        class_type = str(node.workflow_api[address[0]].get("class_type", ""))
        out.setdefault(key, RawValue(node.id, address[0], class_type, address[1], value))

    for node_id in plan.nodes:
        for parameter, value in nodes[node_id].values.items():
            add(nodes[node_id], parameter, value)
    for values in plan.items:
        for (node_id, parameter), value in values.items():
            add(nodes[node_id], parameter, value)
    return list(out.values())


def checkpoint_of(prompt: Mapping[str, Any]) -> str | None:
    """The first checkpoint (or diffusion model) the prompt loads, in node-id order; None when it loads none."""
    for node_id in sorted(prompt, key=lambda k: (len(k), k)):
        node = prompt[node_id]
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for name in _CHECKPOINT_INPUTS:
            value = inputs.get(name)
            if isinstance(value, str):
                return value
    return None


def workflow_signature(prompt: Mapping[str, Any]) -> str:
    """A short hash of the prompt's shape (node ids and classes, not values): jobs that cost alike share it."""
    shape = sorted(
        (str(node_id), str(node.get("class_type"))) for node_id, node in prompt.items() if isinstance(node, dict)
    )
    return hashlib.sha1(json.dumps(shape).encode(), usedforsecurity=False).hexdigest()[:16]
