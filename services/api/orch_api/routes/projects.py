"""`/api/projects`: stored as project events; read back through the scheduler's `projects.*` RPC."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from orch_api.context import ApiContext, get_ctx, path_id, read_json
from orch_api.errors import Conflict, NotFound, Unprocessable
from orch_api.openapi import json_body
from orch_common.contracts.events import EventBase
from orch_common.contracts.projects import (
    ProjectCreated,
    ProjectDeleted,
    ProjectDocument,
    ProjectRenamed,
    ProjectSaved,
)
from orch_common.contracts.rpc import RpcVerb

__all__ = ["router"]

router = APIRouter(prefix="/api/projects", tags=["projects"])


def _explain(exc: ValidationError) -> str:
    return "; ".join(f"`{'.'.join(str(p) for p in e['loc']) or 'body'}`: {e['msg']}" for e in exc.errors()[:20])


async def _document(request: Request, ctx: ApiContext) -> ProjectDocument:
    body = await read_json(request, ctx.settings.max_body_bytes)
    if isinstance(body, dict) and isinstance(body.get("document"), dict):
        body = body["document"]
    try:
        return ProjectDocument.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable(f"not a project document: {_explain(exc)}", code="invalid_project") from None


_REMEMBERED = 256


def _remember(ctx: ApiContext, project_id: str, version: int, document: dict[str, Any], deleted: bool = False) -> None:
    ctx.recent_projects[project_id] = {"id": project_id, "version": version, "document": document, "deleted": deleted}
    ctx.recent_projects.move_to_end(project_id)
    while len(ctx.recent_projects) > _REMEMBERED:
        ctx.recent_projects.popitem(last=False)


async def _get(ctx: ApiContext, project_id: str, version: int | None = None) -> dict[str, Any]:
    """The scheduler's answer, unless this process recorded something newer it has not folded yet."""
    request: dict[str, Any] = {"project_id": path_id(project_id, "project")}
    if version is not None:
        request["version"] = version
    try:
        result = await ctx.bus.rpc(RpcVerb.PROJECTS_GET, request)
    except NotFound:
        result = None
    mine = ctx.recent_projects.get(project_id)
    if mine is not None and (version is None or version == mine["version"]):
        folded = int(result.get("version") or 0) if isinstance(result, dict) else 0
        if mine["deleted"] or result is None or folded < mine["version"]:
            result = {**mine, "document": dict(mine["document"])}
    if not isinstance(result, dict) or result.get("deleted"):
        raise NotFound(f"no project {project_id!r}" + (f" version {version}" if version is not None else ""))
    return result


async def _publish(ctx: ApiContext, event: EventBase) -> None:
    ack = await ctx.bus.publish(event)
    if ack.duplicate:
        raise Conflict(f"{event.event_id} was already recorded; reload the project and retry", code="conflict")


async def _save(ctx: ApiContext, project_id: str, document: ProjectDocument, restored_from: int | None) -> int:
    async with ctx.project_lock:
        current = await _get(ctx, project_id)
        version = int(current.get("version") or 1) + 1
        event = ProjectSaved(project_id=project_id, version=version, document=document, restored_from=restored_from)
        await _publish(ctx, event)
        _remember(ctx, project_id, version, document.model_dump(mode="json"))
    return version


async def _create(ctx: ApiContext, document: ProjectDocument) -> JSONResponse:
    project_id = uuid.uuid4().hex
    await _publish(ctx, ProjectCreated(project_id=project_id, document=document))
    _remember(ctx, project_id, 1, document.model_dump(mode="json"))
    return JSONResponse(
        {"id": project_id, "version": 1}, status_code=201, headers={"Location": f"/api/projects/{project_id}"}
    )


@router.post("", status_code=201, summary="Create a project", openapi_extra=json_body(ProjectDocument))
async def create_project(request: Request, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    return await _create(ctx, await _document(request, ctx))


@router.post(
    "/import",
    status_code=201,
    summary="Import an exported project file as a new project",
    openapi_extra=json_body(ProjectDocument),
)
async def import_project(request: Request, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    return await _create(ctx, await _document(request, ctx))


@router.get("", summary="List projects")
async def list_projects(ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    result = await ctx.bus.rpc(RpcVerb.PROJECTS_LIST)
    projects = result.get("projects", []) if isinstance(result, dict) else result or []
    return {"projects": projects}


@router.get("/{project_id}", summary="A project (latest, or ?version=N)")
async def get_project(
    project_id: str, version: int | None = Query(default=None, ge=1), ctx: ApiContext = Depends(get_ctx)
) -> dict[str, Any]:
    return await _get(ctx, project_id, version)


@router.put("/{project_id}", summary="Save a new version", openapi_extra=json_body(ProjectDocument))
async def save_project(project_id: str, request: Request, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    document = await _document(request, ctx)
    return {"id": project_id, "version": await _save(ctx, project_id, document, None)}


@router.post("/{project_id}/rename", summary="Rename a project")
async def rename_project(project_id: str, request: Request, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    body = await read_json(request, ctx.settings.max_body_bytes)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Unprocessable("the body needs `name`: a non-empty string of at most 200 characters", code="invalid_name")
    current = await _get(ctx, project_id)
    await _publish(ctx, ProjectRenamed(project_id=project_id, name=name.strip(), nonce=uuid.uuid4().hex))
    _remember(ctx, project_id, int(current["version"]), {**current["document"], "name": name.strip()})
    return {"id": project_id, "name": name.strip()}


@router.delete("/{project_id}", summary="Delete a project")
async def delete_project(project_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    current = await _get(ctx, project_id)
    await _publish(ctx, ProjectDeleted(project_id=project_id))
    _remember(ctx, project_id, int(current["version"]), current["document"], deleted=True)
    return {"id": project_id, "deleted": True}


@router.get("/{project_id}/versions", summary="Every saved version")
async def project_versions(project_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    result = await ctx.bus.rpc(RpcVerb.PROJECTS_VERSIONS, {"project_id": path_id(project_id, "project")})
    if result is None:
        raise NotFound(f"no project {project_id!r}")
    versions = result.get("versions", []) if isinstance(result, dict) else result
    return {"id": project_id, "versions": versions}


@router.post("/{project_id}/versions/{version}/restore", summary="Save an old version as the newest")
async def restore_version(project_id: str, version: int, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    old = await _get(ctx, project_id, version)
    document = ProjectDocument.model_validate(old["document"])
    return {"id": project_id, "version": await _save(ctx, project_id, document, version), "restored_from": version}


@router.get("/{project_id}/export", summary="The project as one JSON file")
async def export_project(project_id: str, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    current = await _get(ctx, project_id)
    document = ProjectDocument.model_validate(current["document"])
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", document.name).strip("_") or "project"
    return JSONResponse(
        document.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{stem}.orch-project.json"'},
    )
