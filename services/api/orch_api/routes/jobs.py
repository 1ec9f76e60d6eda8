"""`/api/jobs`: submit one or a batch (validated, acked by JetStream before 202), list, get, history, cancel.

The routes take the context straight from the request rather than as a FastAPI dependency: a plain-function
dependency is run in a worker thread, a hop that cost more than the rest of a small submission.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch_api.context import ApiContext, get_ctx, path_id, read_json
from orch_api.errors import ApiError, BadRequest, Conflict, NotFound, Unavailable, Unprocessable
from orch_api.live_hub import public
from orch_api.model_files import check_models, confirm_model_uses, model_uses, required_models
from orch_api.openapi import json_body
from orch_api.prompts import check_api_prompt, check_capable, looks_like_ui_workflow
from orch_api.publish_many import encode_checked, publish_many
from orch_api.registry import BackendRecord
from orch_common.contracts.events import JobCancellationRequested, JobSubmitted, RetryPolicy
from orch_common.contracts.rpc import JobState, JobView, ListJobsRequest, ListJobsResult, RpcVerb

__all__ = ["MAX_BATCH_JOBS", "SubmitJob", "fetch_job", "router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

MAX_BATCH_JOBS = 10_000
"""Most jobs one `POST /api/jobs/batch` may hold."""
_MAX_PROBLEMS = 100
_NAMED_PROBLEMS = 5


class SubmitJob(BaseModel):
    """The body of `POST /api/jobs`, and each item of `POST /api/jobs/batch`'s `jobs`."""

    model_config = ConfigDict(extra="forbid")

    workflow: Any = Field(description="An API-format prompt (or a UI-format workflow, converted on a backend)")
    backend: str | None = Field(default=None, description="Pin the job to this backend id")
    retry: RetryPolicy | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = 0


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["jobs"],
                    "additionalProperties": False,
                    "properties": {
                        "jobs": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_BATCH_JOBS,
                            "items": {"$ref": "#/components/schemas/SubmitJob"},
                        }
                    },
                }
            }
        },
    }
}


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


def _checked_key(idempotency_key: str | None) -> str | None:
    if idempotency_key is not None and (not idempotency_key.strip() or len(idempotency_key) > 200):
        raise BadRequest("`Idempotency-Key` must be 1 to 200 characters", code="bad_idempotency_key")
    return idempotency_key


def _job_id(idempotency_key: str | None) -> str:
    """A fresh id, or one derived from the client's `Idempotency-Key` so a retried submission is the same job."""
    key = _checked_key(idempotency_key)
    if key is None:
        return uuid.uuid4().hex
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, key).hex


def _batch_ids(idempotency_key: str | None, count: int) -> list[str]:
    """Fresh ids, or ids derived from the `Idempotency-Key` and each job's index in the batch."""
    key = _checked_key(idempotency_key)
    if key is None:
        return [uuid.uuid4().hex for _ in range(count)]
    return [uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{key}\x00batch\x00{i}").hex for i in range(count)]


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


async def _submitted(
    submission: SubmitJob, job_id: str, backends: dict[str, BackendRecord], ctx: ApiContext
) -> JobSubmitted:
    """The event that records the job, once the submission has passed every check."""
    workflow, ui_workflow, classes, models = await _checked(submission, backends, ctx)
    return JobSubmitted(
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


@router.post("", status_code=202, summary="Submit a job", openapi_extra=json_body(SubmitJob))
async def submit_job(request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    body = await read_json(request, ctx.settings.max_body_bytes)
    submission = _parse_submission(body)
    job_id = _job_id(request.headers.get("idempotency-key"))
    backends, fresh = await ctx.recent_backends.get(ctx.bus)
    try:
        event = await _submitted(submission, job_id, backends, ctx)
    except Unprocessable:
        if fresh:
            raise
        backends, _ = await ctx.recent_backends.get(ctx.bus, fresh=True)  # refuse only on a fresh read
        event = await _submitted(submission, job_id, backends, ctx)
    await ctx.bus.publish(event)
    ctx.metrics.jobs_submitted.inc()
    return JSONResponse({"id": job_id}, status_code=202, headers={"Location": f"/api/jobs/{job_id}"})


# ------------------------------------------------------------------------------------------------ batch

Problem = tuple[int, ApiError]


def _batch_items(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, got a JSON {type(body).__name__}", code="not_object")
    unknown = sorted(set(body) - {"jobs"})
    if unknown:
        raise Unprocessable(
            f'unknown field(s) {", ".join(map(repr, unknown))}: a batch is `{{"jobs": [...]}}`', code="invalid_batch"
        )
    items = body.get("jobs")
    if not isinstance(items, list):
        raise Unprocessable("the body has no `jobs` list (each item as the body of POST /api/jobs)", code="no_jobs")
    if not items:
        raise Unprocessable("`jobs` is empty: nothing to submit", code="no_jobs")
    if len(items) > MAX_BATCH_JOBS:
        raise Unprocessable(
            f"`jobs` holds {len(items)} jobs; a batch may hold at most {MAX_BATCH_JOBS}", code="batch_too_large"
        )
    return items


def _refuse(problems: list[Problem], count: int) -> None:
    """Raise one error naming each bad item (index and problem), so nothing of the batch is accepted."""
    if not problems:
        return
    kinds = {type(exc) for _, exc in problems}
    error_type: type[ApiError] = kinds.pop() if len(kinds) == 1 else Unprocessable
    codes = {exc.code for _, exc in problems}
    named = "; ".join(f"jobs[{index}]: {exc.message}" for index, exc in problems[:_NAMED_PROBLEMS])
    more = f" (and {len(problems) - _NAMED_PROBLEMS} more)" if len(problems) > _NAMED_PROBLEMS else ""
    raise error_type(
        f"{len(problems)} of {count} jobs refused, so none was accepted: {named}{more}",
        code=codes.pop() if len(codes) == 1 else "invalid_batch",
        extra={
            "problems": [
                {**exc.extra, "index": index, "code": exc.code, "message": exc.message}
                for index, exc in problems[:_MAX_PROBLEMS]
            ]
        },
    )


async def _batch_events(
    submissions: list[SubmitJob], ids: list[str], backends: dict[str, BackendRecord], ctx: ApiContext
) -> tuple[list[JobSubmitted], list[Problem]]:
    events: list[JobSubmitted] = []
    problems: list[Problem] = []
    for index, (submission, job_id) in enumerate(zip(submissions, ids, strict=True)):
        try:
            events.append(await _submitted(submission, job_id, backends, ctx))
        except Unavailable:
            raise  # the orchestrator's trouble, not the item's
        except ApiError as exc:
            problems.append((index, exc))
    return events, problems


@router.post("/batch", status_code=202, summary="Submit a batch of jobs, all or none", openapi_extra=_BATCH_BODY)
async def submit_batch(request: Request) -> JSONResponse:
    """`{"jobs": [<body of POST /api/jobs>, …]}` → 202 `{"ids": [...]}` in the same order.

    Every item is checked first; if any is bad, the answer is a 4xx naming each bad item (`problems`: index,
    code, message) and no job is created. An `Idempotency-Key` makes a retried batch the same jobs.
    """
    ctx = get_ctx(request)
    body = await read_json(request, ctx.settings.max_body_bytes)
    items = _batch_items(body)
    ids = _batch_ids(request.headers.get("idempotency-key"), len(items))
    submissions: list[SubmitJob] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            submissions.append(_parse_submission(item))
        except ApiError as exc:
            problems.append((index, exc))
    _refuse(problems, len(items))
    backends, fresh = await ctx.recent_backends.get(ctx.bus)
    events, problems = await _batch_events(submissions, ids, backends, ctx)
    if problems and not fresh and any(isinstance(exc, Unprocessable) for _, exc in problems):
        backends, _ = await ctx.recent_backends.get(ctx.bus, fresh=True)  # refuse only on a fresh read
        events, problems = await _batch_events(submissions, ids, backends, ctx)
    _refuse(problems, len(items))
    await publish_many(ctx.bus, events, encode_checked(ctx.bus, events))
    ctx.metrics.jobs_submitted.inc(len(events))
    return JSONResponse({"ids": ids}, status_code=202)


@router.get("", summary="List jobs")
async def list_jobs(
    request: Request,
    state: JobState | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=10_000),
    offset: int = Query(default=0, ge=0),
    run_id: str | None = Query(default=None),
) -> ListJobsResult:
    ctx = get_ctx(request)
    query = ListJobsRequest(state=state, limit=limit, offset=offset, run_id=run_id)
    result = await ctx.bus.rpc(RpcVerb.JOBS_LIST, query.model_dump(mode="json"))
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
async def get_job(job_id: str, request: Request) -> JobView:
    return await fetch_job(get_ctx(request), job_id)


@router.get("/{job_id}/events", summary="The job's full event history, oldest first")
async def job_events(job_id: str, request: Request) -> list[Any]:
    ctx = get_ctx(request)
    path_id(job_id, "job")
    result = await ctx.bus.rpc(RpcVerb.JOBS_EVENTS, {"job_id": job_id})
    if result is None:
        raise NotFound(f"no job {job_id!r}")
    events = result.get("events", []) if isinstance(result, dict) else result
    return list(events)


@router.post("/{job_id}/cancel", status_code=202, summary="Ask for a job to be cancelled")
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    ctx = get_ctx(request)
    job = await fetch_job(ctx, job_id)
    if job.state.terminal:
        raise Conflict(f"job {job_id!r} already {job.state.value}", code="already_terminal")
    await ctx.bus.publish(JobCancellationRequested(job_id=job_id))
    return {"id": job_id, "cancellation_requested": True}
