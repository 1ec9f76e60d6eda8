"""`POST /api/workflows/inspect`: a workflow's parameters, ports and which servers can run it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from orch_api.context import ApiContext, get_ctx, read_json
from orch_api.conversion import pick_backend_for_ui, workflow_tools
from orch_api.errors import ApiError, BadRequest, Unprocessable
from orch_api.prompts import check_api_prompt, looks_like_ui_workflow
from orch_api.registry import read_backends

__all__ = ["router"]

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


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
    fmt = "ui" if looks_like_ui_workflow(workflow) else "api"
    api_prompt = workflow
    if fmt == "ui":
        api_prompt = await ctx.object_infos.convert(workflow, pick_backend_for_ui(workflow, backends, pinned))
    classes = check_api_prompt(api_prompt)
    capability = {
        b.id: {
            "capable": set(classes) <= b.node_classes,
            "missing_classes": sorted(set(classes) - b.node_classes),
            "status": b.status,
        }
        for b in backends.values()
    }
    result: dict[str, Any] = {
        "format": fmt,
        "required_classes": classes,
        "capability": capability,
        "workflow_api": api_prompt,
    }
    tools = workflow_tools()
    if tools is None:
        result["parameters"] = None
        result["ports"] = None
        result["note"] = "parameter and port inspection arrive with orch_common.workflow"
        return result
    for name, attr in (("parameters", "inspect_parameters"), ("ports", "find_ports")):
        fn = getattr(tools, attr, None)
        try:
            result[name] = _jsonable(fn(api_prompt)) if fn is not None else None
        except ApiError:
            raise
        except Exception as exc:  # reported, not fatal
            result[name] = None
            result[f"{name}_error"] = str(exc)
    return result
