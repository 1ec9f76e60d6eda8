"""The fold: `apply(state, event) -> state`, the only code that changes `SchedulerState`.

Deterministic and free of clocks, randomness and I/O: every time comes from the events' `occurred_at`, every
decision (backend, attempt, prompt id) from the events themselves. For speed it mutates `state` in place and
returns it. Rules that keep a job's story straight:

- exactly one terminal state per job: any event after succeeded / failed / cancelled is ignored;
- only the current attempt counts: events of an older (or not yet scheduled) attempt are ignored;
- decisions are accepted only in the state they answer (JobScheduled for a queued job's next attempt,
  JobRetried for a failed attempt awaiting a decision);
- a late success of a superseded attempt (declared lost, e.g. its backend was only partitioned, but it finished
  after all) is accepted while the job's retry has not started (awaiting its retry decision, queued, or placed
  but not started): the job succeeds with that attempt's outputs (which are kept for this) and a placed retry
  ends as `superseded` (the service sends it CancelJob). Once
  the retry has started, or the job is terminal, the late success is recorded and ignored: the invariant is that
  no job succeeds twice, and a retry already running is the one that counts;
- JobCancelled for a job whose cancellation nobody requested, of anything but its attempt in flight, is the
  agent answering CancelJob for a superseded attempt: ignored.

Ignored events stay in the event log (they are facts) and are counted in `state.ignored`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orch_common.contracts import events as ev
from orch_common.contracts import projects as pj
from orch_common.contracts.rpc import JobState
from orch_common.workflow.project_run import checkpoint_of, workflow_signature
from orch_scheduler.domain.state import (
    DEFAULT_RETRY,
    Attempt,
    Backend,
    BackendStatus,
    Job,
    Output,
    PendingFailure,
    Project,
    ProjectVersion,
    SchedulerState,
)
from orch_scheduler.runs import fold as runs_fold

__all__ = ["apply", "apply_all"]


def apply(state: SchedulerState, event: Any) -> SchedulerState:
    """Fold one event (any parsed event model) into `state`, in place; returns `state`."""
    handler = _HANDLERS.get(type(event))
    if handler is not None and handler(state, event):
        state.applied += 1
    else:
        state.ignored += 1
    return state


def apply_all(state: SchedulerState, events: Any) -> SchedulerState:
    for event in events:
        apply(state, event)
    return state


# ------------------------------------------------------------------------------------------------- jobs


def _live_job(state: SchedulerState, job_id: str) -> Job | None:
    job = state.jobs.get(job_id)
    return None if job is None or job.state.terminal else job


def _current(state: SchedulerState, job_id: str, attempt: int) -> tuple[Job, Attempt] | None:
    """The job and its in-flight attempt when `attempt` is the current one, else None."""
    job = _live_job(state, job_id)
    if job is None:
        return None
    att = job.in_flight
    if att is None or att.number != attempt:
        return None
    return job, att


def _release(state: SchedulerState, job: Job, att: Attempt) -> None:
    backend = state.backends.get(att.backend_id)
    if backend is not None and backend.inflight.get(job.id) == att.number:
        del backend.inflight[job.id]


def _terminate(state: SchedulerState, job: Job, new_state: JobState, at: Any) -> None:
    job.state = new_state
    job.ended_at = at
    job.not_before = None
    job.pending_failure = None
    state.dequeue(job)
    state.pending_failures.pop(job.id, None)
    state.pending_cancels.pop(job.id, None)
    runs_fold.job_changed(state, job)


def _submitted(state: SchedulerState, e: ev.JobSubmitted) -> bool:
    if e.job_id in state.jobs:
        return False
    job = Job(
        id=e.job_id,
        order=len(state.jobs),
        submitted_at=e.occurred_at,
        priority=e.priority,
        required_classes=tuple(e.required_classes),
        required_models=e.required_models or None,
        pinned_backend=e.pinned_backend,
        retry=DEFAULT_RETRY if e.retry == DEFAULT_RETRY else e.retry,
        project_id=e.project_id,
        run_id=e.run_id,
        graph_node_id=e.graph_node_id,
        labels=e.labels or None,
        checkpoint=checkpoint_of(e.workflow),
        signature=workflow_signature(e.workflow),
    )
    state.jobs[job.id] = job
    state.enqueue(job)
    runs_fold.job_submitted(state, job)
    return True


def _scheduled(state: SchedulerState, e: ev.JobScheduled) -> bool:
    job = _live_job(state, e.job_id)
    if job is None or job.state != JobState.QUEUED or job.cancel_requested or e.attempt != job.next_attempt:
        return False
    if job.pending_failure is not None or job.in_flight is not None:
        return False
    att = Attempt(number=e.attempt, backend_id=e.backend_id, prompt_id=e.prompt_id, scheduled_at=e.occurred_at)
    if job.attempts is None:
        job.attempts = []
    job.attempts.append(att)
    job.state = JobState.SCHEDULED
    job.not_before = None
    job.progress = None
    state.dequeue(job)
    backend = state.backends.get(e.backend_id)
    if backend is not None:
        backend.inflight[job.id] = e.attempt
    state.perf.last_backend = e.backend_id
    return True


def _started(state: SchedulerState, e: ev.JobStarted) -> bool:
    found = _current(state, e.job_id, e.attempt)
    if found is None or found[1].started_at is not None:
        return False
    job, att = found
    att.started_at = e.occurred_at
    job.state = JobState.RUNNING
    return True


def _progressed(state: SchedulerState, e: ev.JobProgressed) -> bool:
    found = _current(state, e.job_id, e.attempt)
    if found is None:
        return False
    job = found[0]
    if job.progress is not None and job.progress.get("seq", -1) >= e.seq:
        return False
    job.progress = {"seq": e.seq, "node_id": e.node_id, "value": e.value, "max": e.max}
    return True


def _node_executed(state: SchedulerState, e: ev.JobNodeExecuted) -> bool:
    found = _current(state, e.job_id, e.attempt)
    if found is None:
        return False
    job = found[0]
    progress = dict(job.progress) if job.progress else {}
    progress["nodes_executed"] = int(progress.get("nodes_executed", 0)) + 1
    progress["last_node"] = e.node_id
    job.progress = progress
    return True


def _output_stored(state: SchedulerState, e: ev.JobOutputStored) -> bool:
    found = _current(state, e.job_id, e.attempt)
    job = found[0] if found is not None else _superseded(state, e.job_id, e.attempt)
    if job is None:
        return False
    if job.outputs is None:
        job.outputs = []
    job.outputs.append(
        Output(
            attempt=e.attempt,
            node_id=e.node_id,
            index=e.index,
            artifact_id=e.artifact_id,
            filename=e.filename,
            subfolder=e.subfolder,
            folder_type=e.folder_type,
            kind=e.kind.value,
            content_type=e.content_type,
            size=e.size,
        )
    )
    return True


def _superseded(state: SchedulerState, job_id: str, attempt: int) -> Job | None:
    """The live job when `attempt` is one of its ended (failed) attempts and no later attempt started, else None."""
    job = _live_job(state, job_id)
    if job is None or not job.attempts or job.cancel_requested:
        return None
    if not any(a.number == attempt and a.ended_at is not None for a in job.attempts):
        return None
    if any(a.number > attempt and a.started_at is not None for a in job.attempts):
        return None
    return job


def _late_success(state: SchedulerState, e: ev.JobSucceeded) -> tuple[Job, Attempt] | None:
    """Accept a superseded attempt's success (see the module docstring): end an unstarted retry as superseded."""
    job = _superseded(state, e.job_id, e.attempt)
    if job is None or job.attempts is None:
        return None
    att = next((a for a in job.attempts if a.number == e.attempt), None)
    if att is None:
        return None
    retry = job.in_flight
    if retry is not None:
        retry.ended_at = e.occurred_at
        retry.outcome = "superseded"
        _release(state, job, retry)
    job.attempts.remove(att)
    job.attempts.append(att)  # the succeeded attempt is the job's current one again (views show its backend)
    return job, att


def _succeeded(state: SchedulerState, e: ev.JobSucceeded) -> bool:
    found = _current(state, e.job_id, e.attempt) or _late_success(state, e)
    if found is None:
        return False
    job, att = found
    att.ended_at = e.occurred_at
    att.outcome = "succeeded"
    _release(state, job, att)
    backend = state.backends.get(att.backend_id)
    if backend is not None:
        backend.jobs_completed += 1
        if att.started_at is not None and job.signature is not None:
            began = att.started_at
            if backend.last_finished_at is not None and backend.last_finished_at > began:
                began = backend.last_finished_at
            state.perf.record(job.signature, backend.id, (e.occurred_at - began).total_seconds())
        backend.last_finished_at = e.occurred_at
        if job.checkpoint is not None:
            backend.loaded_checkpoint = job.checkpoint
    if job.outputs:
        job.outputs = [o for o in job.outputs if o.attempt == att.number] or None
    _terminate(state, job, JobState.SUCCEEDED, e.occurred_at)
    return True


def _attempt_failed(state: SchedulerState, e: ev.JobAttemptFailed) -> bool:
    found = _current(state, e.job_id, e.attempt)
    if found is None:
        return False
    job, att = found
    att.ended_at = e.occurred_at
    att.outcome = e.reason.value
    att.error = e.message
    _release(state, job, att)
    job.state = JobState.QUEUED
    job.pending_failure = PendingFailure(
        attempt=e.attempt,
        reason=e.reason,
        message=e.message,
        node_id=e.node_id,
        node_type=e.node_type,
        details=e.details or None,
    )
    state.pending_failures[job.id] = None
    return True


def _retried(state: SchedulerState, e: ev.JobRetried) -> bool:
    job = _live_job(state, e.job_id)
    if job is None or job.pending_failure is None or e.attempt != job.pending_failure.attempt + 1:
        return False
    job.pending_failure = None
    state.pending_failures.pop(job.id, None)
    job.next_attempt = e.attempt
    job.not_before = e.not_before
    job.state = JobState.QUEUED
    if not job.cancel_requested:
        state.enqueue(job)
    return True


def _failed(state: SchedulerState, e: ev.JobFailed) -> bool:
    job = _live_job(state, e.job_id)
    if job is None:
        return False
    att = job.in_flight
    if att is not None:
        att.ended_at = e.occurred_at
        att.outcome = e.reason.value
        att.error = e.message
        _release(state, job, att)
    job.error = {
        "reason": e.reason.value,
        "message": e.message,
        "node_id": e.node_id,
        "node_type": e.node_type,
        "attempt": e.attempt,
        "details": e.details,
    }
    _terminate(state, job, JobState.FAILED, e.occurred_at)
    return True


def _cancellation_requested(state: SchedulerState, e: ev.JobCancellationRequested) -> bool:
    job = _live_job(state, e.job_id)
    if job is None or job.cancel_requested:
        return False
    job.cancel_requested = True
    state.dequeue(job)
    state.pending_cancels[job.id] = None
    runs_fold.job_changed(state, job)
    return True


def _cancelled(state: SchedulerState, e: ev.JobCancelled) -> bool:
    job = _live_job(state, e.job_id)
    if job is None:
        return False
    att = job.in_flight
    if not job.cancel_requested and (att is None or e.attempt != att.number):
        return False
    if att is not None:
        if e.attempt not in (0, att.number):
            return False
        att.ended_at = e.occurred_at
        att.outcome = "cancelled"
        _release(state, job, att)
    _terminate(state, job, JobState.CANCELLED, e.occurred_at)
    return True


# --------------------------------------------------------------------------------------------- backends


def _registered(state: SchedulerState, e: ev.BackendRegistered) -> bool:
    caps = e.capabilities
    old = state.backends.get(e.backend_id)
    backend = Backend(
        id=e.backend_id,
        comfy_url=e.comfy_url,
        agent_instance=e.agent_instance,
        node_classes=frozenset(caps.node_classes),
        models={folder: frozenset(files) for folder, files in caps.models.items()},
        capabilities=caps.model_dump(mode="json"),
        registered_at=e.occurred_at,
        last_event_at=e.occurred_at,
    )
    if old is not None:
        backend.disabled = old.disabled
        backend.inflight = old.inflight
        backend.jobs_completed = old.jobs_completed
        backend.loaded_checkpoint = old.loaded_checkpoint
        backend.last_finished_at = old.last_finished_at
    else:  # attempts may have been placed on it before this log saw it register (rare: a scan is fine)
        for job in state.jobs.values():
            att = job.in_flight
            if att is not None and att.backend_id == e.backend_id:
                backend.inflight[job.id] = att.number
    state.backends[e.backend_id] = backend
    return True


def _lost(state: SchedulerState, e: ev.BackendLost) -> bool:
    backend = state.backends.get(e.backend_id)
    if backend is None or backend.status == BackendStatus.LOST or backend.agent_instance != e.agent_instance:
        return False
    backend.status = BackendStatus.LOST
    backend.last_event_at = e.occurred_at
    return True


def _disabled(state: SchedulerState, e: ev.BackendDisabled) -> bool:
    backend = state.backends.get(e.backend_id)
    if backend is None or backend.disabled:
        return False
    backend.disabled = True
    return True


def _enabled(state: SchedulerState, e: ev.BackendEnabled) -> bool:
    backend = state.backends.get(e.backend_id)
    if backend is None or not backend.disabled:
        return False
    backend.disabled = False
    return True


# --------------------------------------------------------------------------------------------- projects


def _project_created(state: SchedulerState, e: pj.ProjectCreated) -> bool:
    if e.project_id in state.projects:
        return False
    state.projects[e.project_id] = Project(
        id=e.project_id,
        name=e.document.name,
        created_at=e.occurred_at,
        updated_at=e.occurred_at,
        versions=[ProjectVersion(1, e.occurred_at, e.document.name, None)],
    )
    return True


def _project_saved(state: SchedulerState, e: pj.ProjectSaved) -> bool:
    project = state.projects.get(e.project_id)
    if project is None or project.deleted or e.version <= project.latest:
        return False
    project.versions.append(ProjectVersion(e.version, e.occurred_at, e.document.name, e.restored_from))
    project.name = e.document.name
    project.updated_at = e.occurred_at
    return True


def _project_renamed(state: SchedulerState, e: pj.ProjectRenamed) -> bool:
    project = state.projects.get(e.project_id)
    if project is None or project.deleted:
        return False
    project.name = e.name
    project.updated_at = e.occurred_at
    return True


def _project_deleted(state: SchedulerState, e: pj.ProjectDeleted) -> bool:
    project = state.projects.get(e.project_id)
    if project is None or project.deleted:
        return False
    project.deleted = True
    project.updated_at = e.occurred_at
    return True


_HANDLERS: dict[type[Any], Callable[[SchedulerState, Any], bool]] = {
    ev.JobSubmitted: _submitted,
    ev.JobScheduled: _scheduled,
    ev.JobStarted: _started,
    ev.JobProgressed: _progressed,
    ev.JobNodeExecuted: _node_executed,
    ev.JobOutputStored: _output_stored,
    ev.JobSucceeded: _succeeded,
    ev.JobAttemptFailed: _attempt_failed,
    ev.JobRetried: _retried,
    ev.JobFailed: _failed,
    ev.JobCancellationRequested: _cancellation_requested,
    ev.JobCancelled: _cancelled,
    ev.BackendRegistered: _registered,
    ev.BackendLost: _lost,
    ev.BackendDisabled: _disabled,
    ev.BackendEnabled: _enabled,
    pj.ProjectCreated: _project_created,
    pj.ProjectSaved: _project_saved,
    pj.ProjectRenamed: _project_renamed,
    pj.ProjectDeleted: _project_deleted,
    **runs_fold.HANDLERS,
}
