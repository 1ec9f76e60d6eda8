"""Checking what is submitted: an API-format prompt, which node classes it needs, and who can run them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orch_api.errors import NotApiPrompt, Unprocessable
from orch_api.registry import BackendRecord

__all__ = ["check_api_prompt", "check_capable", "looks_like_ui_workflow"]

_MAX_NAMED = 20


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMED])
    return shown + (f" and {len(items) - _MAX_NAMED} more" if len(items) > _MAX_NAMED else "")


def looks_like_ui_workflow(workflow: Any) -> bool:
    """The editor's saved format: `nodes` as a list (and usually `links`), rather than `{id: {class_type}}`."""
    return isinstance(workflow, Mapping) and isinstance(workflow.get("nodes"), list)


def check_api_prompt(workflow: Any) -> list[str]:
    """Return the sorted node classes of an API-format prompt, or raise `NotApiPrompt` naming what is wrong."""
    if not isinstance(workflow, Mapping):
        raise NotApiPrompt(f"`workflow` must be a JSON object of nodes, got a JSON {type(workflow).__name__}")
    if not workflow:
        raise NotApiPrompt("`workflow` has no nodes")
    if isinstance(workflow.get("prompt"), Mapping) and "class_type" not in workflow["prompt"]:
        raise NotApiPrompt("`workflow` looks like a ComfyUI /prompt body: send the value of its `prompt` as `workflow`")
    problems: list[str] = []
    classes: set[str] = set()
    for node_id, node in workflow.items():
        if not isinstance(node, Mapping):
            problems.append(f"node {node_id!r} is not an object")
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            problems.append(f"node {node_id!r} has no class_type")
            continue
        classes.add(class_type)
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            problems.append(f"node {node_id!r} ({class_type}) has `inputs` that is not an object")
            continue
        for name, value in inputs.items():
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
            if is_link and str(value[0]) not in workflow:
                problems.append(f"input {name!r} of node {node_id!r} links to missing node {value[0]!r}")
    if problems:
        raise NotApiPrompt(f"`workflow` is not a valid API-format prompt: {'; '.join(problems[:_MAX_NAMED])}")
    return sorted(classes)


def check_capable(classes: list[str], backends: Mapping[str, BackendRecord], pinned: str | None) -> list[str]:
    """Raise unless the pinned backend (else at least one backend) has every class; return the capable ids."""
    if pinned is not None:
        backend = backends.get(pinned)
        if backend is None:
            known = _names(sorted(backends)) or "none registered"
            raise Unprocessable(f"unknown backend {pinned!r} (known: {known})", code="unknown_backend")
        missing = sorted(set(classes) - backend.node_classes)
        if missing:
            raise Unprocessable(
                f"backend {pinned!r} does not have node classes: {_names(missing)}",
                code="unknown_node_classes",
                extra={"missing_classes": missing, "backend": pinned},
            )
        return [pinned]
    if not backends:
        raise Unprocessable(
            "no backend is registered, so no node class can be run (start an agent: `orch agent`)",
            code="no_backends",
        )
    capable = [b.id for b in backends.values() if set(classes) <= b.node_classes]
    if capable:
        return sorted(capable)
    everywhere: set[str] = set().union(*(b.node_classes for b in backends.values()))
    missing = sorted(set(classes) - everywhere)
    if missing:
        raise Unprocessable(
            f"no registered backend has node classes: {_names(missing)}",
            code="unknown_node_classes",
            extra={"missing_classes": missing},
        )
    raise Unprocessable(
        "every node class exists somewhere, but no single backend has all of them",
        code="no_capable_backend",
        extra={"required_classes": classes},
    )
