"""`POST /api/workflows/inspect`: a workflow's parameters, ports and which servers can run it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request

from orch_api.context import ApiContext, get_ctx, read_json
from orch_api.conversion import pick_backend_for_ui
from orch_api.errors import ApiError, BadRequest, Unprocessable
from orch_api.inspection import capability_json, parameters_json, ports_json
from orch_api.prompts import check_api_prompt, looks_like_ui_workflow
from orch_api.registry import BackendRecord, read_backends
from orch_common.workflow import check_capability, find_ports, inspect_parameters, suggest_exposed

__all__ = ["router"]

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


def _reference(backends: Mapping[str, BackendRecord], pinned: str | None, classes: list[str]) -> BackendRecord | None:
    """The backend whose object_info describes the parameters: the pinned one, else the best-equipped reachable one."""
    if pinned is not None:
        if pinned not in backends:
            raise Unprocessable(f"unknown backend {pinned!r}", code="unknown_backend")
        return backends[pinned]
    candidates = [b for b in backends.values() if b.comfy_url]
    if not candidates:
        return None
    return max(candidates, key=lambda b: (len(set(classes) & b.node_classes), b.status != "offline", b.id))


async def _indexes(ctx: ApiContext, backends: Mapping[str, BackendRecord]) -> dict[str, Any]:
    """The object_info index of every backend that can be asked (cached by content hash)."""
    reachable = [b for b in backends.values() if b.comfy_url and b.status != "offline"]

    async def one(backend: BackendRecord) -> Any:
        try:
            return await ctx.object_infos.index(backend)
        except ApiError:
            return None

    found = await asyncio.gather(*(one(b) for b in reachable))
    return {b.id: index for b, index in zip(reachable, found, strict=True) if index is not None}


def _class_capability(classes: list[str], backend: BackendRecord) -> dict[str, Any]:
    missing = sorted(set(classes) - backend.node_classes)
    return {
        "ok": not missing,
        "capable": not missing,
        "missing_classes": missing,
        "missing_values": [],
        "required_models": [],
        "status": backend.status,
    }


@router.post("/inspect", summary="Parameters, ports and per-server capability of a workflow")
async def inspect_workflow(request: Request, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict) or "workflow" not in body:
        raise Unprocessable(
            "the body needs `workflow` (API or UI format) and optionally `backend`", code="missing_workflow"
        )
    workflow, pinned = body["workflow"], body.get("backend")
    if pinned is not None and not isinstance(pinned, str):
        raise BadRequest("`backend` must be a backend id (a string)")
    backends = await read_backends(ctx.bus)
    ui = workflow if looks_like_ui_workflow(workflow) else None
    if ui is not None:
        reference: BackendRecord | None = pick_backend_for_ui(ui, backends, pinned)
        assert reference is not None
        api_prompt = await ctx.object_infos.convert(ui, reference)
        classes = check_api_prompt(api_prompt)
    else:
        api_prompt = workflow
        classes = check_api_prompt(api_prompt)
        reference = _reference(backends, pinned, classes)
    indexes = await _indexes(ctx, backends)
    capability: dict[str, Any] = {}
    for backend in backends.values():
        index = indexes.get(backend.id)
        if index is not None:
            capability[backend.id] = capability_json(check_capability(api_prompt, index), backend.status)
        else:
            capability[backend.id] = _class_capability(classes, backend)
    result: dict[str, Any] = {
        "format": "ui" if ui is not None else "api",
        "required_classes": classes,
        "capability": capability,
        "workflow_api": api_prompt,
        "reference_backend": reference.id if reference else None,
        "parameters": None,
        "ports": None,
    }
    index = indexes.get(reference.id) if reference is not None else None
    if index is None:
        result["note"] = "parameters and ports need a reachable backend's object_info"
        return result
    try:
        parameters = inspect_parameters(api_prompt, index, ui)
        result["parameters"] = parameters_json(parameters, suggest_exposed(parameters))
        result["ports"] = ports_json(find_ports(api_prompt, index))
    except ValueError as exc:  # the library's WorkflowError is a ValueError naming the bad element
        raise Unprocessable(f"cannot inspect the workflow: {exc}", code="invalid_workflow") from None
    return result
