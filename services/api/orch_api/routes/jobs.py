"""`/api/jobs`: submit (validated, acked by JetStream before 202), list, get, history, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch_api.context import ApiContext, get_ctx, path_id, read_json
from orch_api.errors import BadRequest, Conflict, NotFound, Unprocessable
from orch_api.live_hub import public
from orch_api.model_files import check_models, confirm_model_uses, model_uses, required_models
from orch_api.openapi import json_body
from orch_api.prompts import check_api_prompt, check_capable, looks_like_ui_workflow
from orch_api.registry import BackendRecord
from orch_common.contracts.events import JobCancellationRequested, JobSubmitted, RetryPolicy
from orch_common.contracts.rpc import JobState, JobView, ListJobsRequest, ListJobsResult, RpcVerb

__all__ = ["fetch_job", "router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class SubmitJob(BaseModel):
    """The body of `POST /api/jobs`."""

    model_config = ConfigDict(extra="forbid")

    workflow: Any = Field(description="An API-format prompt (or a UI-format workflow, converted on a backend)")
    backend: str | None = Field(default=None, description="Pin the job to this backend id")
    retry: RetryPolicy | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = 0


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"`{where}`: {err['msg']}")
    return "; ".join(parts)


def _parse_submission(body: Any) -> SubmitJob:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, got a JSON {type(body).__name__}", code="not_object")
    if "workflow" not in body:
        raise Unprocessable("the body has no `workflow` (an API-format prompt)", code="missing_workflow")
    try:
        return SubmitJob.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable(f"invalid submission: {_explain(exc)}", code="invalid_submission") from None


_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f0c1c36-51f4-4d0e-9a57-8f4a3b1f2e10")


def _job_id(idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the client's `Idempotency-Key` so a retried submission is the same job."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    if not idempotency_key.strip() or len(idempotency_key) > 200:
        raise BadRequest("`Idempotency-Key` must be 1 to 200 characters", code="bad_idempotency_key")
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key).hex


async def _checked(
    submission: SubmitJob, backends: dict[str, BackendRecord], ctx: ApiContext
) -> tuple[dict[str, Any], dict[str, Any] | None, list[str], dict[str, list[str]]]:
    """The API-format prompt (converted if it came in UI format), the UI one, its classes and required models."""
    workflow, ui_workflow = submission.workflow, None
    if looks_like_ui_workflow(workflow):
        from orch_api.conversion import pick_backend_for_ui

        target = pick_backend_for_ui(workflow, backends, submission.backend)
        ui_workflow, workflow = workflow, await ctx.object_infos.convert(workflow, target)
    classes = check_api_prompt(workflow)
    capable = check_capable(classes, backends, submission.backend)
    uses = await confirm_model_uses(model_uses(workflow), workflow, [backends[i] for i in capable], ctx.object_infos)
    models = required_models(uses, backends)
    check_models(uses, models, backends, capable, submission.backend)
    return workflow, ui_workflow, classes, models


@router.post("", status_code=202, summary="Submit a job", openapi_extra=json_body(SubmitJob))
async def submit_job(request: Request, ctx: ApiContext = Depends(get_ctx)) -> JSONResponse:
    body = await read_json(request, ctx.settings.max_body_bytes)
    submission = _parse_submission(body)
    backends, fresh = await ctx.recent_backends.get(ctx.bus)
    try:
        workflow, ui_workflow, classes, models = await _checked(submission, backends, ctx)
    except Unprocessable:
        if fresh:
            raise
        backends, _ = await ctx.recent_backends.get(ctx.bus, fresh=True)  # refuse only on a fresh read
        workflow, ui_workflow, classes, models = await _checked(submission, backends, ctx)
    job_id = _job_id(request.headers.get("idempotency-key"))
    event = JobSubmitted(
        job_id=job_id,
        workflow=workflow,
        ui_workflow=ui_workflow,
        pinned_backend=submission.backend,
        required_classes=classes,
        required_models=models,
        retry=submission.retry or RetryPolicy(),
        priority=submission.priority,
        labels=submission.labels,
    )
    await ctx.bus.publish(event)
    ctx.metrics.jobs_submitted.inc()
    return JSONResponse({"id": job_id}, status_code=202, headers={"Location": f"/api/jobs/{job_id}"})


@router.get("", summary="List jobs")
async def list_jobs(
    state: JobState | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=10_000),
    offset: int = Query(default=0, ge=0),
    run_id: str | None = Query(default=None),
    ctx: ApiContext = Depends(get_ctx),
) -> ListJobsResult:
    request = ListJobsRequest(state=state, limit=limit, offset=offset, run_id=run_id)
    result = await ctx.bus.rpc(RpcVerb.JOBS_LIST, request.model_dump(mode="json"))
    return ListJobsResult.model_validate(result)


async def fetch_job(ctx: ApiContext, job_id: str) -> JobView:
    """The scheduler's view of a job; for one it has not folded yet (just accepted), what the live hub saw."""
    path_id(job_id, "job")
    try:
        result = await ctx.bus.rpc(RpcVerb.JOBS_GET, {"job_id": job_id})
    except NotFound:
        result = None
    if result is None:
        seen = ctx.hub.jobs.get(job_id)
        if seen is None:
            raise NotFound(f"no job {job_id!r}") from None
        return JobView.model_validate({**public(seen), "attempts": []})
    return JobView.model_validate(result)


@router.get("/{job_id}", summary="One job")
async def get_job(job_id: str, ctx: ApiContext = Depends(get_ctx)) -> JobView:
    return await fetch_job(ctx, job_id)


@router.get("/{job_id}/events", summary="The job's full event history, oldest first")
async def job_events(job_id: str, ctx: ApiContext = Depends(get_ctx)) -> list[Any]:
    path_id(job_id, "job")
    result = await ctx.bus.rpc(RpcVerb.JOBS_EVENTS, {"job_id": job_id})
    if result is None:
        raise NotFound(f"no job {job_id!r}")
    events = result.get("events", []) if isinstance(result, dict) else result
    return list(events)


@router.post("/{job_id}/cancel", status_code=202, summary="Ask for a job to be cancelled")
async def cancel_job(job_id: str, ctx: ApiContext = Depends(get_ctx)) -> dict[str, Any]:
    job = await fetch_job(ctx, job_id)
    if job.state.terminal:
        raise Conflict(f"job {job_id!r} already {job.state.value}", code="already_terminal")
    await ctx.bus.publish(JobCancellationRequested(job_id=job_id))
    return {"id": job_id, "cancellation_requested": True}
