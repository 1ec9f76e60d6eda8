"""The scheduler's RPC handlers: request dicts in, JSON-able results out (`RpcRequestError` for bad requests)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch_common.contracts.rpc import GetJobRequest, ListJobsRequest, ListJobsResult, RpcVerb
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.errors import NotFoundError, RpcRequestError
from orch_scheduler.eventlog import EventLog
from orch_scheduler.runs.views import run_summary, run_view
from orch_scheduler.views import backend_view, job_view

__all__ = ["RpcHandlers"]


class _ProjectRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    project_id: str
    version: int | None = Field(default=None, ge=1)


class _ProjectsListRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    include_deleted: bool = False


class _RunRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    summary: bool = False  # without the items


class _RunsListRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    project_id: str | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class RpcHandlers:
    """Answers every `RpcVerb` from the live state and, for histories and documents, the event log."""

    def __init__(
        self,
        state: Callable[[], SchedulerState],
        event_log: Callable[[], EventLog],
        last_seen: Mapping[str, datetime],
    ) -> None:
        self._state = state
        self._log = event_log
        self._last_seen = last_seen
        self._handlers: dict[RpcVerb, Callable[[dict[str, Any]], Any]] = {
            RpcVerb.JOBS_LIST: self.jobs_list,
            RpcVerb.JOBS_GET: self.jobs_get,
            RpcVerb.JOBS_EVENTS: self.jobs_events,
            RpcVerb.BACKENDS_LIST: self.backends_list,
            RpcVerb.PROJECTS_LIST: self.projects_list,
            RpcVerb.PROJECTS_GET: self.projects_get,
            RpcVerb.PROJECTS_VERSIONS: self.projects_versions,
            RpcVerb.RUNS_GET: self.runs_get,
            RpcVerb.RUNS_LIST: self.runs_list,
            RpcVerb.PING: self.ping,
        }

    @property
    def verbs(self) -> list[RpcVerb]:
        """The verbs answered here."""
        return list(self._handlers)

    def handle(self, verb: RpcVerb, request: dict[str, Any]) -> Any:
        """The JSON-able result of `verb`; raises RpcRequestError (or NotFoundError) for a bad request."""
        try:
            return self._handlers[verb](request)
        except ValidationError as exc:
            raise RpcRequestError(f"bad {verb.value} request: {exc.errors(include_url=False)}") from exc

    # ------------------------------------------------------------------------------------------------ jobs

    def jobs_list(self, request: dict[str, Any]) -> Any:
        req = ListJobsRequest.model_validate(request)
        matching = [
            job
            for job in reversed(self._state().jobs.values())
            if (req.state is None or job.state == req.state) and (req.run_id is None or job.run_id == req.run_id)
        ]
        page = matching[req.offset : req.offset + req.limit]
        return ListJobsResult(jobs=[job_view(j) for j in page], total=len(matching)).model_dump(mode="json")

    def jobs_get(self, request: dict[str, Any]) -> Any:
        req = GetJobRequest.model_validate(request)
        job = self._state().jobs.get(req.job_id)
        if job is None:
            raise NotFoundError(f"no job {req.job_id!r}")
        return job_view(job).model_dump(mode="json")

    def jobs_events(self, request: dict[str, Any]) -> Any:
        req = GetJobRequest.model_validate(request)
        history = self._log().job_events(req.job_id)
        if not history and req.job_id not in self._state().jobs:
            raise NotFoundError(f"no job {req.job_id!r}")
        return history

    # -------------------------------------------------------------------------------------------- backends

    def backends_list(self, request: dict[str, Any]) -> Any:
        state = self._state()
        return [
            backend_view(b, state.jobs, self._last_seen.get(b.id)).model_dump(mode="json")
            for b in sorted(state.backends.values(), key=lambda b: b.id)
        ]

    # -------------------------------------------------------------------------------------------- projects

    def projects_list(self, request: dict[str, Any]) -> Any:
        req = _ProjectsListRequest.model_validate(request)
        projects = sorted(self._state().projects.values(), key=lambda p: p.updated_at, reverse=True)
        return [
            {
                "id": p.id,
                "name": p.name,
                "version": p.latest,
                "created_at": p.created_at.isoformat(),
                "updated_at": p.updated_at.isoformat(),
                "deleted": p.deleted,
            }
            for p in projects
            if req.include_deleted or not p.deleted
        ]

    def projects_get(self, request: dict[str, Any]) -> Any:
        req = _ProjectRequest.model_validate(request)
        project = self._state().projects.get(req.project_id)
        if project is None:
            raise NotFoundError(f"no project {req.project_id!r}")
        version = req.version or project.latest
        if version not in {v.version for v in project.versions}:
            raise NotFoundError(f"project {req.project_id!r} has no version {version}")
        event_id = f"{project.id}:created" if version == 1 else f"{project.id}:v{version}"
        payload = self._log().payloads_by_id([event_id]).get(event_id)
        if payload is None:
            raise NotFoundError(f"project {req.project_id!r} version {version} is not in the event log")
        document = json.loads(payload)["document"]
        if version == project.latest:
            document["name"] = project.name  # a rename is not a new version
        return {"id": project.id, "version": version, "document": document, "deleted": project.deleted}

    def projects_versions(self, request: dict[str, Any]) -> Any:
        req = _ProjectRequest.model_validate(request)
        project = self._state().projects.get(req.project_id)
        if project is None:
            raise NotFoundError(f"no project {req.project_id!r}")
        return [
            {
                "version": v.version,
                "saved_at": v.saved_at.isoformat(),
                "name": v.name,
                "restored_from": v.restored_from,
            }
            for v in project.versions
        ]

    # ------------------------------------------------------------------------------------------------ runs

    def runs_get(self, request: dict[str, Any]) -> Any:
        req = _RunRequest.model_validate(request)
        state = self._state()
        run = state.runs.get(req.run_id)
        if run is None:
            raise NotFoundError(f"no run {req.run_id!r}")
        return run_summary(state, run) if req.summary else run_view(state, run)

    def runs_list(self, request: dict[str, Any]) -> Any:
        req = _RunsListRequest.model_validate(request)
        state = self._state()
        runs = [r for r in reversed(state.runs.values()) if req.project_id is None or r.project_id == req.project_id]
        return [run_summary(state, r) for r in runs[: req.limit]]

    def ping(self, request: dict[str, Any]) -> Any:
        state = self._state()
        return {
            "pong": True,
            "jobs": len(state.jobs),
            "queued": state.queued_count(),
            "backends": len(state.backends),
            "events_applied": state.applied,
        }
