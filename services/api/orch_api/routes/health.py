"""`/healthz` (the process is up), `/readyz` (NATS, topology, scheduler) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from orch_api.context import ApiContext, get_ctx
from orch_api.errors import ApiError
from orch_api.registry import scheduler_backends
from orch_common.contracts.rpc import JobState, ListJobsRequest, RpcVerb

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="NATS connected, topology present, scheduler answering")
async def readyz(ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    checks: dict[str, Any] = {"nats": ctx.bus.nc.is_connected}
    checks["topology"] = bool(checks["nats"]) and await ctx.bus.topology_present()
    try:
        await ctx.bus.rpc(RpcVerb.PING, timeout=min(ctx.settings.rpc_timeout, 2.0))
        checks["scheduler"] = True
    except ApiError as exc:
        checks["scheduler"] = False
        checks["scheduler_error"] = exc.message
    ready = all(v for k, v in checks.items() if not k.endswith("_error"))
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def _count(ctx: ApiContext, state: JobState) -> int | None:
    request = ListJobsRequest(state=state, limit=1).model_dump(mode="json")
    try:
        result = await ctx.bus.rpc(RpcVerb.JOBS_LIST, request, timeout=min(ctx.settings.rpc_timeout, 1.0))
    except ApiError:
        return None
    total = result.get("total") if isinstance(result, dict) else None
    return int(total) if isinstance(total, int) else None


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(ctx: ApiContext = Depends(get_ctx)) -> Response:
    counts = await asyncio.gather(*(_count(ctx, s) for s in JobState))
    if all(n is not None for n in counts):
        ctx.metrics.set_job_counts({s: int(n or 0) for s, n in zip(JobState, counts, strict=True)})
    with contextlib.suppress(ApiError):
        ctx.metrics.set_backend_views(await scheduler_backends(ctx.bus))
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
