"""Placement policies: which queued job goes to which backend now. Pure and deterministic.

Every policy keeps the hard rules: only live, enabled, capable backends (pinned jobs only on their pin), never
more than `max_inflight` attempts per backend, higher priority first, and a job waiting for its retry time
stays queued. They differ in the order jobs are taken and in the backend each one gets:

    smart             jobs: fair share inside a priority band — the next job comes from the run (or project, or
                      the pool of plain jobs) with the fewest attempts in flight, so a large batch cannot starve
                      a single interactive run; backend: the earliest expected finish, i.e. its queued work plus
                      this job's measured duration there (median of past runs of the same workflow shape, scaled
                      from other backends or a prior when unknown) plus a model-load penalty unless the backend
                      already has the job's checkpoint loaded (affinity); ties go to more VRAM, then the id.
                      A retry after backend_lost / prompt_lost / hung avoids the backend that failed while
                      another live, capable one exists.
    least_loaded      arrival order; the backend with the fewest attempts in flight (ties: smallest id).
    fifo_speed_blind  arrival order; the free backend idle the longest (a plain first-come queue, speed-blind).
    round_robin       arrival order; backends in turn after the one used last.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orch_scheduler.domain.perf import DEFAULT_PRIOR_S
from orch_scheduler.domain.state import Backend, Job, SchedulerState

__all__ = [
    "AGE_BONUS_S",
    "MODEL_LOAD_PRIOR_S",
    "WINDOW",
    "Placement",
    "PlacementPolicy",
    "can_run",
    "place_with",
]

MODEL_LOAD_PRIOR_S = 5.0
"""The expected cost of switching a backend to another checkpoint (placement's affinity term)."""
WINDOW = 16
"""Smart placement looks this far into a flow's queue for a job that fits a free backend (e.g. its checkpoint)."""
AGE_BONUS_S = 0.5
"""…but each place further back costs this much, so an old job is not passed over for long."""

_MOVE_ON = frozenset({"backend_lost", "prompt_lost", "hung"})


class PlacementPolicy(StrEnum):
    SMART = "smart"
    LEAST_LOADED = "least_loaded"
    FIFO_SPEED_BLIND = "fifo_speed_blind"
    ROUND_ROBIN = "round_robin"


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


def place_with(
    policy: PlacementPolicy | str, state: SchedulerState, now: datetime, max_inflight: int
) -> list[Placement]:
    """The placements to make now under `policy`, in the order they should be made."""
    room = {b.id: max_inflight - b.load for b in state.backends.values() if b.schedulable and b.load < max_inflight}
    if not room:
        return []
    chosen = PlacementPolicy(policy)
    if chosen is PlacementPolicy.SMART:
        return _Smart(state, now, room).place()
    return _simple(chosen, state, now, room)


def _eligible(state: SchedulerState, now: datetime, priority: int) -> Iterator[Job]:
    for job_id in state.queues[priority]:
        job = state.jobs[job_id]
        if job.not_before is None or job.not_before <= now:
            yield job


def _avoided(state: SchedulerState, job: Job) -> str | None:
    """The backend a retry should move away from, when another live backend could run the job."""
    if not job.attempts or job.pinned_backend is not None:
        return None
    last = job.attempts[-1]
    if last.outcome not in _MOVE_ON:
        return None
    for backend in state.backends.values():
        if backend.id != last.backend_id and backend.schedulable and can_run(backend, job):
            return last.backend_id
    return None


def _candidates(state: SchedulerState, job: Job, room: dict[str, int]) -> list[str]:
    if job.pinned_backend is not None:
        ids = [job.pinned_backend] if room.get(job.pinned_backend, 0) > 0 else []
    else:
        ids = [b for b, free in room.items() if free > 0]
    avoid = _avoided(state, job)
    return sorted(b for b in ids if b != avoid and can_run(state.backends[b], job))


# ----------------------------------------------------------------------------------------- simple policies


def _simple(policy: PlacementPolicy, state: SchedulerState, now: datetime, room: dict[str, int]) -> list[Placement]:
    order = sorted(state.backends)
    cursor = order.index(state.perf.last_backend) + 1 if state.perf.last_backend in order else 0
    load = {b: state.backends[b].load for b in room}
    placements: list[Placement] = []
    for priority in sorted(state.queues, reverse=True):
        for job in _eligible(state, now, priority):
            candidates = _candidates(state, job, room)
            if not candidates:
                continue
            if policy is PlacementPolicy.LEAST_LOADED:
                best = min(candidates, key=lambda b: (load[b], b))
            elif policy is PlacementPolicy.FIFO_SPEED_BLIND:
                best = min(candidates, key=lambda b: (load[b], _idle_key(state.backends[b]), b))
            else:
                rotation = order[cursor:] + order[:cursor]
                best = next(b for b in rotation if b in candidates)
                cursor = (order.index(best) + 1) % len(order)
            placements.append(Placement(job.id, job.next_attempt, best))
            load[best] += 1
            room[best] -= 1
            if room[best] == 0:
                del room[best]
                if not room:
                    return placements
    return placements


def _idle_key(backend: Backend) -> tuple[int, datetime | None]:
    finished = backend.last_finished_at
    return (0, None) if finished is None else (1, finished)


# ------------------------------------------------------------------------------------------------- smart


def _flow(job: Job) -> str:
    if job.run_id is not None:
        return f"run:{job.run_id}"
    if job.project_id is not None:
        return f"project:{job.project_id}"
    return "jobs"


class _Smart:
    """One smart placement round (holds its caches; see the module docstring)."""

    def __init__(self, state: SchedulerState, now: datetime, room: dict[str, int]) -> None:
        self.state = state
        self.now = now
        self.room = room
        self._expected: dict[tuple[str | None, str], float] = {}
        self.backlog: dict[str, float] = {}
        self.checkpoint: dict[str, str | None] = {}
        self.running: dict[str, int] = {}
        for backend in state.backends.values():
            work = 0.0
            loaded = backend.loaded_checkpoint
            for job_id in backend.inflight:
                job = state.jobs.get(job_id)
                if job is None:
                    continue
                self.running[_flow(job)] = self.running.get(_flow(job), 0) + 1
                if backend.id not in room:
                    continue
                duration = self.expected(job, backend.id)
                att = job.in_flight
                if att is not None and att.started_at is not None:
                    began = max(att.started_at, backend.last_finished_at or att.started_at)
                    duration = max(0.0, duration - (now - began).total_seconds())
                work += duration
                if job.checkpoint is not None:
                    loaded = job.checkpoint
            self.backlog[backend.id] = work
            self.checkpoint[backend.id] = loaded

    def expected(self, job: Job, backend_id: str) -> float:
        key = (job.signature, backend_id)
        value = self._expected.get(key)
        if value is None:
            value = self.state.perf.expected(job.signature, backend_id, DEFAULT_PRIOR_S)
            self._expected[key] = value
        return value

    def finish(self, job: Job, backend_id: str) -> float:
        switch = 0.0
        if job.checkpoint is not None and self.checkpoint.get(backend_id) != job.checkpoint:
            switch = MODEL_LOAD_PRIOR_S
        return self.backlog[backend_id] + switch + self.expected(job, backend_id)

    def choose(self, job: Job) -> str | None:
        candidates = _candidates(self.state, job, self.room)
        if not candidates:
            return None

        def key(b: str) -> tuple[float, int, str]:
            vram = self.state.backends[b].capabilities.get("vram_total") or 0
            return (round(self.finish(job, b), 6), -int(vram), b)

        return min(candidates, key=key)

    def pick(self, jobs: list[Job]) -> tuple[Job, str] | None:
        """The (job, backend) of the flow's first `WINDOW` placeable jobs with the earliest expected finish (an
        older job wins by `AGE_BONUS_S` a place); the chosen job, and any job no backend can take now, leave
        `jobs`."""
        best: tuple[float, int, Job, str] | None = None
        kept: list[Job] = []
        position = 0
        while jobs and position < WINDOW:
            job = jobs.pop(0)
            backend = self.choose(job)
            if backend is None:
                continue
            kept.append(job)
            score = self.finish(job, backend) + AGE_BONUS_S * position
            if best is None or score < best[0]:
                best = (score, position, job, backend)
            position += 1
        if best is None:
            jobs[:0] = kept
            return None
        kept.remove(best[2])
        jobs[:0] = kept
        return best[2], best[3]

    def place(self) -> list[Placement]:
        placements: list[Placement] = []
        for priority in sorted(self.state.queues, reverse=True):
            flows: dict[str, list[Job]] = {}
            enough = WINDOW + sum(self.room.values())  # no flow can use more of its queue in this round
            for job in _eligible(self.state, self.now, priority):
                queued = flows.setdefault(_flow(job), [])
                if len(queued) < enough:
                    queued.append(job)
            # (jobs in flight or placed now, arrival of its first queued job, flow) → fewest first
            heap = [(self.running.get(f, 0), jobs[0].order, f) for f, jobs in flows.items()]
            heapq.heapify(heap)
            while heap and self.room:
                share, first, f = heapq.heappop(heap)
                pick = self.pick(flows[f])
                if pick is None:
                    continue  # nothing of this flow can be placed now
                job, best = pick
                placements.append(Placement(job.id, job.next_attempt, best))
                self.backlog[best] = self.finish(job, best)
                if job.checkpoint is not None:
                    self.checkpoint[best] = job.checkpoint
                self.room[best] -= 1
                if self.room[best] == 0:
                    del self.room[best]
                if flows[f]:
                    heapq.heappush(heap, (share + 1, first, f))
            if not self.room:
                break
        return placements
