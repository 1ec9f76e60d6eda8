"""The scheduler's state: everything it needs to decide, built only by folding events (see `fold.apply`).

The state holds no workflows (they stay in the event log and are read back when a job is dispatched) and uses
`__slots__` dataclasses, so 100,000 queued jobs fit in well under 100 MiB. Besides the entities, the state keeps
indexes that the decisions walk instead of scanning every job: the placement queues (one per priority, in
arrival order), the jobs whose failed attempt awaits a retry/fail decision and the jobs whose cancellation is
pending. `snapshot()` renders all of it as plain data, so two states can be compared (replay vs live).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orch_common.contracts.events import FailureReason, RetryPolicy
from orch_common.contracts.rpc import JobState
from orch_scheduler.domain.perf import PerfStats
from orch_scheduler.runs.model import Run

__all__ = [
    "DEFAULT_RETRY",
    "Attempt",
    "Backend",
    "BackendStatus",
    "Job",
    "Output",
    "PendingFailure",
    "Project",
    "ProjectVersion",
    "SchedulerState",
]

DEFAULT_RETRY = RetryPolicy()


class BackendStatus:
    LIVE = "live"
    LOST = "lost"


@dataclass(slots=True)
class Attempt:
    number: int
    backend_id: str
    prompt_id: str
    scheduled_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None  # succeeded | cancelled | a FailureReason value
    error: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.ended_at is None


@dataclass(slots=True)
class Output:
    attempt: int
    node_id: str
    index: int
    artifact_id: str
    filename: str
    subfolder: str
    folder_type: str
    kind: str
    content_type: str
    size: int


@dataclass(slots=True)
class PendingFailure:
    """A failed attempt the scheduler has not yet answered with JobRetried or JobFailed."""

    attempt: int
    reason: FailureReason
    message: str
    node_id: str | None
    node_type: str | None
    details: dict[str, Any] | None


@dataclass(slots=True)
class Job:
    id: str
    order: int  # arrival order (newest first = highest)
    submitted_at: datetime
    priority: int = 0
    required_classes: tuple[str, ...] = ()
    required_models: dict[str, list[str]] | None = None
    pinned_backend: str | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    project_id: str | None = None
    run_id: str | None = None
    graph_node_id: str | None = None
    labels: dict[str, str] | None = None
    checkpoint: str | None = None  # the model it loads (placement's affinity)
    signature: str | None = None  # its workflow's shape (placement's measured speed)
    state: JobState = JobState.QUEUED
    next_attempt: int = 1
    not_before: datetime | None = None
    attempts: list[Attempt] | None = None
    pending_failure: PendingFailure | None = None
    cancel_requested: bool = False
    outputs: list[Output] | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    ended_at: datetime | None = None

    @property
    def current(self) -> Attempt | None:
        """The latest attempt, if any was scheduled."""
        return self.attempts[-1] if self.attempts else None

    @property
    def in_flight(self) -> Attempt | None:
        att = self.current
        return att if att is not None and att.in_flight else None


@dataclass(slots=True)
class Backend:
    id: str
    comfy_url: str
    agent_instance: str
    node_classes: frozenset[str]
    models: dict[str, frozenset[str]]
    capabilities: dict[str, Any]
    registered_at: datetime
    status: str = BackendStatus.LIVE
    disabled: bool = False
    inflight: dict[str, int] = field(default_factory=dict)  # job id → attempt, in scheduling order
    jobs_completed: int = 0
    last_event_at: datetime | None = None
    loaded_checkpoint: str | None = None  # the checkpoint of the last job that ran there
    last_finished_at: datetime | None = None

    @property
    def load(self) -> int:
        return len(self.inflight)

    @property
    def schedulable(self) -> bool:
        return self.status == BackendStatus.LIVE and not self.disabled


@dataclass(slots=True)
class ProjectVersion:
    version: int
    saved_at: datetime
    name: str
    restored_from: int | None


@dataclass(slots=True)
class Project:
    """A project's history without its documents (those are read back from the event log)."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    versions: list[ProjectVersion]
    deleted: bool = False

    @property
    def latest(self) -> int:
        return self.versions[-1].version


class SchedulerState:
    """Jobs, backends, projects and the indexes decisions need. Mutated in place by `fold.apply`."""

    __slots__ = (
        "applied",
        "backends",
        "delayed",
        "ignored",
        "jobs",
        "pending_cancels",
        "pending_failures",
        "perf",
        "projects",
        "queues",
        "runs",
    )

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.backends: dict[str, Backend] = {}
        self.projects: dict[str, Project] = {}
        self.runs: dict[str, Run] = {}
        self.perf = PerfStats()
        self.queues: dict[int, dict[str, None]] = {}  # priority → job ids awaiting placement, in arrival order
        self.delayed: dict[str, datetime] = {}  # queued job id → the retry time it waits for
        self.pending_failures: dict[str, None] = {}
        self.pending_cancels: dict[str, None] = {}
        self.applied = 0  # events that changed the state
        self.ignored = 0  # events recorded in the log but ignored (stale attempt, after terminal, unknown job)

    # --------------------------------------------------------------------------------------- queue index

    def enqueue(self, job: Job) -> None:
        self.queues.setdefault(job.priority, {})[job.id] = None
        if job.not_before is not None:
            self.delayed[job.id] = job.not_before

    def dequeue(self, job: Job) -> None:
        queue = self.queues.get(job.priority)
        if queue is not None:
            queue.pop(job.id, None)
            if not queue:
                del self.queues[job.priority]
        self.delayed.pop(job.id, None)

    def queued_count(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def earliest_not_before(self) -> datetime | None:
        """The earliest retry time among queued jobs that wait for one (None when none waits)."""
        return min(self.delayed.values()) if self.delayed else None

    # -------------------------------------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """Everything in the state as plain, comparable data (order of the indexes included)."""
        return {
            "jobs": {job_id: _job_snapshot(job) for job_id, job in self.jobs.items()},
            "backends": {b.id: _backend_snapshot(b) for b in self.backends.values()},
            "projects": {
                p.id: {
                    "name": p.name,
                    "created_at": p.created_at,
                    "updated_at": p.updated_at,
                    "deleted": p.deleted,
                    "versions": [(v.version, v.saved_at, v.name, v.restored_from) for v in p.versions],
                }
                for p in self.projects.values()
            },
            "runs": {run_id: run.snapshot() for run_id, run in self.runs.items()},
            "perf": self.perf.snapshot(),
            "queues": {prio: list(q) for prio, q in sorted(self.queues.items())},
            "delayed": dict(self.delayed),
            "pending_failures": list(self.pending_failures),
            "pending_cancels": list(self.pending_cancels),
            "applied": self.applied,
            "ignored": self.ignored,
        }


def _job_snapshot(job: Job) -> dict[str, Any]:
    return {
        "order": job.order,
        "state": job.state.value,
        "submitted_at": job.submitted_at,
        "priority": job.priority,
        "required_classes": job.required_classes,
        "required_models": job.required_models,
        "pinned_backend": job.pinned_backend,
        "retry": job.retry.model_dump(),
        "project_id": job.project_id,
        "run_id": job.run_id,
        "graph_node_id": job.graph_node_id,
        "labels": job.labels,
        "checkpoint": job.checkpoint,
        "signature": job.signature,
        "next_attempt": job.next_attempt,
        "not_before": job.not_before,
        "attempts": [
            (a.number, a.backend_id, a.prompt_id, a.scheduled_at, a.started_at, a.ended_at, a.outcome, a.error)
            for a in job.attempts or ()
        ],
        "pending_failure": None
        if job.pending_failure is None
        else (job.pending_failure.attempt, job.pending_failure.reason.value, job.pending_failure.message),
        "cancel_requested": job.cancel_requested,
        "outputs": [(o.attempt, o.node_id, o.index, o.artifact_id) for o in job.outputs or ()],
        "error": job.error,
        "progress": job.progress,
        "ended_at": job.ended_at,
    }


def _backend_snapshot(b: Backend) -> dict[str, Any]:
    return {
        "comfy_url": b.comfy_url,
        "agent_instance": b.agent_instance,
        "node_classes": sorted(b.node_classes),
        "models": {k: sorted(v) for k, v in b.models.items()},
        "registered_at": b.registered_at,
        "status": b.status,
        "disabled": b.disabled,
        "inflight": list(b.inflight.items()),
        "jobs_completed": b.jobs_completed,
        "last_event_at": b.last_event_at,
        "loaded_checkpoint": b.loaded_checkpoint,
        "last_finished_at": b.last_finished_at,
    }
