"""Placement: which queued jobs go to which backends now. Pure: it reads the state and returns choices.

A job goes to a live, enabled backend that has every class in `required_classes` (and every file of
`required_models` when given), least loaded first, ties broken by backend id; a pinned job goes only to its pin.
No backend ever holds more than `max_inflight` attempts at once, so there is always room to fail over and no
backend hoards the queue. Jobs are taken by priority (highest first), then in arrival order; a job that waits
for its retry time, or that no live backend can run, stays queued and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orch_scheduler.domain.state import Backend, Job, SchedulerState

__all__ = ["Placement", "can_run", "place"]


@dataclass(frozen=True, slots=True)
class Placement:
    job_id: str
    attempt: int
    backend_id: str


def can_run(backend: Backend, job: Job) -> bool:
    """Whether `backend` has every node class and model `job` needs (liveness and load are not checked)."""
    if job.pinned_backend is not None and job.pinned_backend != backend.id:
        return False
    if job.required_classes and not backend.node_classes.issuperset(job.required_classes):
        return False
    if job.required_models:
        for folder, files in job.required_models.items():
            have = backend.models.get(folder)
            if have is None or not have.issuperset(files):
                return False
    return True


def place(state: SchedulerState, now: datetime, max_inflight: int) -> list[Placement]:
    """The placements to make now, in the order they should be made."""
    load = {b.id: b.load for b in state.backends.values() if b.schedulable and b.load < max_inflight}
    if not load:
        return []
    free = sorted(load)  # backend ids with room, kept sorted for deterministic ties
    placements: list[Placement] = []
    for priority in sorted(state.queues, reverse=True):
        for job_id in state.queues[priority]:
            job = state.jobs[job_id]
            if job.not_before is not None and job.not_before > now:
                continue
            if job.pinned_backend is not None:
                candidates = [job.pinned_backend] if job.pinned_backend in load else []
            else:
                candidates = free
            best: str | None = None
            for backend_id in candidates:
                if can_run(state.backends[backend_id], job) and (best is None or load[backend_id] < load[best]):
                    best = backend_id
            if best is None:
                continue
            placements.append(Placement(job_id, job.next_attempt, best))
            load[best] += 1
            if load[best] >= max_inflight:
                del load[best]
                free.remove(best)
                if not free:
                    return placements
    return placements
