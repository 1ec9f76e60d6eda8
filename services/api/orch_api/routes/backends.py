"""`/api/backends`: live status, capabilities and latest metrics; disable and enable."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends

from orch_api.context import ApiContext, get_ctx, path_id
from orch_api.errors import ApiError, NotFound, NotImplementedYet
from orch_api.registry import read_registrations, scheduler_backends
from orch_common.contracts.events import BackendDisabled, BackendEnabled

__all__ = ["list_backend_views", "router"]

router = APIRouter(prefix="/api/backends", tags=["backends"])


async def list_backend_views(ctx: ApiContext) -> list[dict[str, Any]]:
    """The scheduler's `backends.list` merged with live registrations and the latest `BackendMetrics`; an online
    backend whose metrics show a running prompt is `busy`, even when that prompt is not one of our jobs."""
    views: dict[str, dict[str, Any]] = {}
    scheduler_ok = True
    try:
        for backend in await scheduler_backends(ctx.bus):
            views[backend.id] = backend.model_dump(mode="json")
    except ApiError:
        scheduler_ok = False
    for record in (await read_registrations(ctx.bus)).values():
        view = views.setdefault(
            record.id,
            {
                "id": record.id,
                "comfy_url": record.comfy_url,
                "status": record.status,
                "capabilities": record.capabilities,
                "queued_jobs": 0,
                "running_jobs": [],
                "jobs_completed": 0,
                "last_seen": None,
            },
        )
        view["registered"] = True
    for backend_id, view in views.items():
        view.setdefault("registered", False)
        view["scheduler_available"] = scheduler_ok
        metrics = ctx.hub.backend_metrics.get(backend_id)
        view["metrics"] = metrics.model_dump(mode="json") if metrics is not None else None
        if view.get("status") == "online" and metrics is not None and metrics.running_prompt_id is not None:
            view["status"] = "busy"  # running a prompt queued by someone else (the embedded editor): no job of ours
    return sorted(views.values(), key=lambda v: str(v["id"]))


@router.get("", summary="Backends with status, capabilities and latest metrics")
async def list_backends(ctx: ApiContext = Depends(get_ctx)) -> list[dict[str, Any]]:
    return await list_backend_views(ctx)


async def _known(ctx: ApiContext, backend_id: str) -> None:
    path_id(backend_id, "backend")
    if backend_id in await read_registrations(ctx.bus):
        return
    if any(v.id == backend_id for v in await scheduler_backends(ctx.bus)):
        return
    raise NotFound(f"no backend {backend_id!r}")


@router.post("/{backend_id}/disable", status_code=202, summary="Stop placing jobs on a backend")
async def disable_backend(backend_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    await _known(ctx, backend_id)
    await ctx.bus.publish(BackendDisabled(backend_id=backend_id, nonce=uuid.uuid4().hex))
    return {"id": backend_id, "status": "disabled"}


@router.post("/{backend_id}/enable", status_code=202, summary="Place jobs on a backend again")
async def enable_backend(backend_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    await _known(ctx, backend_id)
    await ctx.bus.publish(BackendEnabled(backend_id=backend_id, nonce=uuid.uuid4().hex))
    return {"id": backend_id, "status": "online"}


_ADD_BY_AGENT = (
    "backends join by starting an agent beside their ComfyUI: `orch agent --nats-url URL --comfy-url URL --id NAME`"
    " (or `orch up`); they leave when the agent stops. Use disable/enable to stop or resume placing jobs."
)


@router.post("", status_code=501, summary="Not supported: backends join by running an agent")
async def add_backend() -> None:
    raise NotImplementedYet(_ADD_BY_AGENT, code="add_backend_by_agent")


@router.delete("/{backend_id}", status_code=501, summary="Not supported: backends leave when their agent stops")
async def remove_backend(backend_id: str) -> None:
    raise NotImplementedYet(_ADD_BY_AGENT, code="remove_backend_by_agent")
