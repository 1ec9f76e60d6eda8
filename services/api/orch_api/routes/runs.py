"""Runs of a project: start one (validated against the project, then recorded as `RunRequested`), follow it, retry
one item, cancel it. The scheduler expands the run into jobs and answers `runs.get` / `runs.list`.

    POST /api/projects/{id}/runs            {"nodes"?, "sweep"?, "version"?, "priority"?} → 202 {"run_id"}
    GET  /api/projects/{id}/runs            the project's runs, newest first
    GET  /api/runs/{run_id}                 items × nodes with their jobs, states and outputs
    POST /api/runs/{run_id}/items/{i}/retry re-run what failed or was cancelled in item i
    POST /api/runs/{run_id}/cancel          cancel every unfinished job of the run, and nobody else's
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch_api.context import ApiContext, get_ctx, path_id, read_json
from orch_api.errors import ApiError, BadRequest, Conflict, NotFound, Unprocessable
from orch_api.model_files import OBJECT_INFO_TRIES, OBJECT_INFO_WAIT_S
from orch_api.prompts import check_api_prompt, check_capable
from orch_api.registry import BackendRecord, read_backends
from orch_api.routes.projects import _get as read_project
from orch_common.contracts.projects import ProjectDocument
from orch_common.contracts.rpc import RpcVerb
from orch_common.contracts.runs import RunCancellationRequested, RunItemRetryRequested, RunRequested, Sweep
from orch_common.workflow.object_info import ObjectInfoIndex, WidgetInput
from orch_common.workflow.project_run import ProjectRunError, RunPlan, plan_run, raw_values
from orch_common.workflow.validate import check_value

__all__ = ["StartRun", "router"]

router = APIRouter(tags=["runs"])

_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class StartRun(BaseModel):
    """The body of `POST /api/projects/{id}/runs` (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[str] = Field(default_factory=list, description="Graph nodes to run (all when empty)")
    sweep: Sweep = Field(default_factory=Sweep, description="Batches and grids over exposed parameters")
    version: int | None = Field(default=None, ge=1, description="The project version to run (latest by default)")
    priority: int = 0


def _explain(exc: ValidationError) -> str:
    return "; ".join(f"`{'.'.join(str(p) for p in e['loc']) or 'body'}`: {e['msg']}" for e in exc.errors()[:20])


async def _body(request: Request, ctx: ApiContext) -> StartRun:
    if not (await request.body()).strip():
        return StartRun()
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, got a JSON {type(body).__name__}", code="not_object")
    try:
        return StartRun.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable(f"invalid run request: {_explain(exc)}", code="invalid_run") from None


async def _run(ctx: ApiContext, run_id: str) -> dict[str, Any]:
    result = await ctx.bus.rpc(RpcVerb.RUNS_GET, {"run_id": path_id(run_id, "run")})
    if not isinstance(result, dict):
        raise NotFound(f"no run {run_id!r}")
    return result


async def _check_capable(
    ctx: ApiContext, document: ProjectDocument, nodes: tuple[str, ...]
) -> dict[str, list[BackendRecord]]:
    """Every node the run executes has a backend with all its classes (its pin, when pinned), as for a job;
    the backends that can run each node."""
    backends = await read_backends(ctx.bus)
    by_id = {n.id: n for n in document.nodes}
    capable: dict[str, list[BackendRecord]] = {}
    for node_id in nodes:
        node = by_id[node_id]
        try:
            ids = check_capable(check_api_prompt(node.workflow_api), backends, node.pinned_backend)
        except ApiError as exc:
            raise Unprocessable(f"node {node_id!r}: {exc.message}", code=exc.code, extra=exc.extra) from None
        capable[node_id] = [backends[i] for i in ids]
    return capable


async def _check_raw_values(
    ctx: ApiContext, document: ProjectDocument, plan: RunPlan, capable: dict[str, list[BackendRecord]]
) -> None:
    """A value set by `<api node>.<input>` (no exposed parameter types it) is checked against the object_info of
    the backends that can run its node: 422 `bad_value` when every one that answered rejects it. Without an
    answer it stands, and ComfyUI's own validation has the last word."""
    indexes: dict[str, list[ObjectInfoIndex]] = {}
    for raw in raw_values(document, plan):
        if raw.node not in indexes:
            answering = ctx.object_infos.answering(
                capable[raw.node], tries=OBJECT_INFO_TRIES, wait_s=OBJECT_INFO_WAIT_S
            )
            indexes[raw.node] = [index async for _, index in answering]
        rejections: list[str] = []
        for index in indexes[raw.node]:
            info = index.get_class(raw.class_type)
            spec = info.input(raw.input) if info is not None else None
            found = check_value(spec, raw.value) if isinstance(spec, WidgetInput) else None
            if found is None:
                break  # this server takes it (or does not type it)
            rejections.append(found[1])
        else:
            if rejections:
                raise Unprocessable(
                    f"node {raw.node!r}: {raw.api_node}.{raw.input} of {raw.class_type}: {rejections[0]}",
                    code="bad_value",
                )


async def _until_known(ctx: ApiContext, run_id: str, timeout: float = 5.0) -> None:
    """Wait (briefly) until the scheduler has folded the run, so a client's next GET finds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(NotFound):
            if await ctx.bus.rpc(RpcVerb.RUNS_GET, {"run_id": run_id, "summary": True}) is not None:
                return
        await asyncio.sleep(0.02)


@router.post("/api/projects/{project_id}/runs", status_code=202, summary="Run a project (a selection, a sweep)")
async def start_run(project_id: str, request: Request, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    start = await _body(request, ctx)
    project = await read_project(ctx, project_id, start.version)  # this API's own recent writes included
    document = ProjectDocument.model_validate(project["document"])
    try:
        plan = plan_run(document, start.nodes, start.sweep)
    except ProjectRunError as exc:
        raise Unprocessable(exc.message, code=exc.code) from None
    capable = await _check_capable(ctx, document, plan.nodes)
    await _check_raw_values(ctx, document, plan, capable)
    run_id = uuid.uuid4().hex
    event = RunRequested(
        run_id=run_id,
        project_id=project_id,
        project_version=int(project.get("version") or 1),
        document=document,
        nodes=start.nodes,
        sweep=start.sweep,
        priority=start.priority,
    )
    await ctx.bus.publish(event)
    await _until_known(ctx, run_id)
    return JSONResponse(
        {"run_id": run_id, "items": len(plan.items), "nodes": list(plan.nodes)},
        status_code=202,
        headers={"Location": f"/api/runs/{run_id}"},
    )


@router.get("/api/projects/{project_id}/runs", summary="The project's runs, newest first")
async def list_runs(project_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    result = await ctx.bus.rpc(RpcVerb.RUNS_LIST, {"project_id": path_id(project_id, "project")})
    return {"project_id": project_id, "runs": result or []}


@router.get("/api/runs/{run_id}", summary="A run: its items and nodes with their jobs, states and outputs")
async def get_run(run_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    return await _run(ctx, run_id)


@router.post("/api/runs/{run_id}/items/{item}/retry", status_code=202, summary="Re-run what failed in one item")
async def retry_item(run_id: str, item: int, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    run = await _run(ctx, run_id)
    items = run.get("items") or []
    if not 0 <= item < len(items):
        raise NotFound(f"run {run_id!r} has no item {item} (it has {len(items)})")
    if items[item].get("state") not in ("failed", "cancelled"):
        raise Conflict(
            f"item {item} of run {run_id!r} is {items[item].get('state')}: nothing to retry", code="no_retry"
        )
    await ctx.bus.publish(RunItemRetryRequested(run_id=run_id, item=item, nonce=uuid.uuid4().hex))
    return {"run_id": run_id, "item": item, "retry_requested": True}


@router.post("/api/runs/{run_id}/cancel", status_code=202, summary="Cancel every unfinished job of the run")
async def cancel_run(run_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    run = await _run(ctx, run_id)
    if run.get("state") in _FINISHED:
        raise Conflict(f"run {run_id!r} already {run.get('state')}", code="already_terminal")
    await ctx.bus.publish(RunCancellationRequested(run_id=run_id, nonce=uuid.uuid4().hex))
    return {"run_id": run_id, "cancellation_requested": True}
