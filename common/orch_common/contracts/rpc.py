"""Request/reply shapes between the API and the scheduler (`orch.v1.rpc.scheduler.<verb>`).

The API never opens the DuckDB file: it asks the scheduler. Every reply is `RpcReply` with either `result`
or `error` (a stable `code` and a human `message`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttemptView",
    "BackendView",
    "GetJobRequest",
    "JobState",
    "JobView",
    "ListJobsRequest",
    "ListJobsResult",
    "OutputView",
    "RpcError",
    "RpcReply",
    "RpcVerb",
]


class RpcVerb(StrEnum):
    JOBS_LIST = "jobs.list"
    JOBS_GET = "jobs.get"
    JOBS_EVENTS = "jobs.events"
    BACKENDS_LIST = "backends.list"
    PROJECTS_LIST = "projects.list"
    PROJECTS_GET = "projects.get"  # {"project_id", "version"?} → {"id", "version", "document", "deleted"}
    PROJECTS_VERSIONS = "projects.versions"  # {"project_id"} → [{"version", "saved_at", "name", "restored_from"}]
    RUNS_GET = "runs.get"  # {"run_id"} → {"id", "project_id", "state", "items": [{"item", "values", "nodes": {…}}]}
    RUNS_LIST = "runs.list"  # {"project_id"?} → [{"id", "project_id", "state", "created_at", …}]
    PING = "ping"


class JobState(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutputView(_Model):
    artifact_id: str
    node_id: str
    filename: str
    subfolder: str
    type: str
    kind: str
    content_type: str
    size: int | None = None
    attempt: int | None = None


class AttemptView(_Model):
    attempt: int
    backend_id: str | None
    prompt_id: str | None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None  # succeeded | failed reason | cancelled
    error: str | None = None


class JobView(_Model):
    """The shape `GET /api/jobs/{id}` returns."""

    id: str
    state: JobState
    attempts: list[AttemptView] = Field(default_factory=list)
    backend: str | None = None
    timings: dict[str, datetime | float | None] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    outputs: list[OutputView] = Field(default_factory=list)
    progress: dict[str, Any] | None = None
    pinned_backend: str | None = None
    project_id: str | None = None
    run_id: str | None = None
    graph_node_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class BackendView(_Model):
    id: str
    comfy_url: str | None
    status: str  # online | busy | offline | disabled
    capabilities: dict[str, Any] = Field(default_factory=dict)
    queued_jobs: int = 0
    running_jobs: list[str] = Field(default_factory=list)
    jobs_completed: int = 0
    last_seen: datetime | None = None


class ListJobsRequest(_Model):
    state: JobState | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0)
    run_id: str | None = None


class ListJobsResult(_Model):
    jobs: list[JobView]
    total: int


class GetJobRequest(_Model):
    job_id: str


class RpcError(_Model):
    code: str  # not_found | bad_request | internal
    message: str


class RpcReply(_Model):
    result: Any | None = None
    error: RpcError | None = None
