"""The RPC views of the state: `JobView` and `BackendView` as the API serves them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from orch_common.contracts.rpc import AttemptView, BackendView, JobState, JobView, OutputView
from orch_scheduler.domain.state import Backend, BackendStatus, Job

__all__ = ["backend_view", "job_view"]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def job_view(job: Job) -> JobView:
    attempts = job.attempts or []
    current = attempts[-1] if attempts else None
    first_scheduled = attempts[0].scheduled_at if attempts else None
    started = current.started_at if current else None
    timings: dict[str, datetime | float | None] = {
        "submitted_at": job.submitted_at,
        "scheduled_at": current.scheduled_at if current else None,
        "started_at": started,
        "ended_at": job.ended_at,
        "queued_s": _seconds(job.submitted_at, first_scheduled),
        "run_s": _seconds(started, job.ended_at),
        "total_s": _seconds(job.submitted_at, job.ended_at),
    }
    if job.not_before is not None:
        timings["not_before"] = job.not_before
    error = job.error
    if error is None and job.pending_failure is not None:
        pf = job.pending_failure
        error = {"reason": pf.reason.value, "message": pf.message, "node_id": pf.node_id, "attempt": pf.attempt}
    return JobView(
        id=job.id,
        state=job.state,
        attempts=[
            AttemptView(
                attempt=a.number,
                backend_id=a.backend_id,
                prompt_id=a.prompt_id,
                scheduled_at=a.scheduled_at,
                started_at=a.started_at,
                ended_at=a.ended_at,
                outcome=a.outcome,
                error=a.error,
            )
            for a in attempts
        ],
        backend=current.backend_id if current else None,
        timings=timings,
        error=error,
        outputs=[
            OutputView(
                artifact_id=o.artifact_id,
                node_id=o.node_id,
                filename=o.filename,
                subfolder=o.subfolder,
                type=o.folder_type,
                kind=o.kind,
                content_type=o.content_type,
                size=o.size,
                attempt=o.attempt,
            )
            for o in job.outputs or ()
        ],
        progress=dict(job.progress) if job.progress else None,
        pinned_backend=job.pinned_backend,
        project_id=job.project_id,
        run_id=job.run_id,
        graph_node_id=job.graph_node_id,
        labels=dict(job.labels or {}),
    )


def backend_view(backend: Backend, jobs: Mapping[str, Job], last_seen: datetime | None = None) -> BackendView:
    running = [job_id for job_id in backend.inflight if jobs[job_id].state == JobState.RUNNING]
    if backend.disabled:
        status = "disabled"
    elif backend.status == BackendStatus.LOST:
        status = "offline"
    else:
        status = "busy" if backend.inflight else "online"
    return BackendView(
        id=backend.id,
        comfy_url=backend.comfy_url,
        status=status,
        capabilities=backend.capabilities,
        queued_jobs=len(backend.inflight) - len(running),
        running_jobs=running,
        jobs_completed=backend.jobs_completed,
        last_seen=last_seen or backend.last_event_at,
    )
