"""Placement policies: which queued job goes to which backend now. Pure and deterministic.

Every policy keeps the hard rules: only live, enabled, capable backends (pinned jobs only on their pin), never
more than `max_inflight` attempts per backend (`smart`: more while what the backend holds is expected to finish
within `queue_ahead_s`, up to `max_depth`; see `place_with`), higher priority first, and a job waiting for its
retry time stays queued. They differ in the order jobs are taken and in the backend each one gets:

    smart             a plan of the queue's head over every backend, busy or not, made one job at a time:
                      - which job next: fair share inside a priority band first — the job comes from a run (or
                        project, or the pool of plain jobs) with the fewest attempts in flight or planned, so a
                        large batch cannot starve a single interactive run; then the largest rank, i.e. its
                        expected duration plus the longest chain of work it feeds in its run (critical path, then
                        longest first: long work is not left for the end), plus `AGE_WEIGHT` per second it has
                        waited, less the checkpoint switch its backend would need (affinity); then arrival order;
                      - which backend: the earliest expected finish over all capable backends, i.e. the work it
                        already holds (queued prompts whole, the running one less its elapsed time) plus this
                        job's expected duration there (`PerfStats.expected`: the median of past runs of the same
                        workflow shape there, else scaled from the backends that ran it; a run stage no backend
                        has run is sized by its sampler steps against the run's measured stages) plus the
                        backend's checkpoint switch cost unless it holds the job's checkpoint then (measured when
                        the fold tells cold runs from warm ones, else about one typical run, else
                        `MODEL_LOAD_PRIOR_S`); ties go to more VRAM, then the id;
                      - a job whose best backend has a free slot is placed; one whose best backend is busy stays
                        queued for it (a long job is not put on a slow server when a fast one frees sooner), and
                        counts in that backend's planned work for the jobs after it (at most `PLAN_AHEAD` per
                        backend and round).
                      A retry after backend_lost / prompt_lost / hung avoids the backend that failed while
                      another live, capable one exists.
    least_loaded      arrival order; the backend with the fewest attempts in flight (ties: smallest id).
    fifo_speed_blind  arrival order; the free backend idle the longest (a plain first-come queue, speed-blind).
    round_robin       arrival order; backends in turn after the one used last.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orch_scheduler.domain.perf import DEFAULT_PRIOR_S
from orch_scheduler.domain.state import Backend, Job, SchedulerState
from orch_scheduler.runs.model import Run

__all__ = [
    "AGE_WEIGHT",
    "MAX_CANDIDATES",
    "MODEL_LOAD_PRIOR_S",
    "PLAN_AHEAD",
    "WINDOW",
    "Placement",
    "PlacementPolicy",
    "can_run",
    "place_with",
]

MODEL_LOAD_PRIOR_S = 5.0
"""The cost of switching a backend to another checkpoint until one is measured (placement's affinity term)."""
WINDOW = 64
"""Smart placement plans at most this many of each flow's queued jobs per round (its longest-first horizon)."""
MAX_CANDIDATES = 512
"""…and at most this many jobs in all per priority band, so a round's cost does not grow with the queue."""
PLAN_AHEAD = 4
"""Jobs a round plans on a backend without a free slot (they wait for it); beyond that, the round plans as if
that backend were not there."""
AGE_WEIGHT = 0.1
"""Seconds of rank a queued job gains per second it has waited: a job is passed by a longer one submitted after
it only while their difference in expected duration exceeds this × the time between their submissions."""

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
    policy: PlacementPolicy | str,
    state: SchedulerState,
    now: datetime,
    max_inflight: int,
    *,
    queue_ahead_s: float = 0.0,
    max_depth: int = 0,
) -> list[Placement]:
    """The placements to make now under `policy`, in the order they should be made.

    `smart` only: beyond `max_inflight`, a backend takes more prompts (up to `max_depth` in all) while the work it
    holds is expected to finish within `queue_ahead_s` — for very short jobs the round trip between one prompt's
    end and the next one's arrival would otherwise leave the server idle; long jobs still wait in our queue,
    where placement can choose late."""
    chosen = PlacementPolicy(policy)
    depth = max(max_inflight, max_depth) if chosen is PlacementPolicy.SMART and queue_ahead_s > 0 else max_inflight
    room = {b.id: depth - b.load for b in state.backends.values() if b.schedulable and b.load < depth}
    if not room:
        return []
    if chosen is PlacementPolicy.SMART:
        base = {b: max_inflight - state.backends[b].load for b in room}
        return _Smart(state, now, room, base=base, queue_ahead_s=queue_ahead_s).place()
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


@dataclass(slots=True)
class _Candidate:
    job: Job
    flow: str
    rank: float  # its expected duration plus the longest chain of work it feeds (critical path), in seconds
    backends: tuple[str, ...]  # every schedulable backend that may run it, busy or not
    planned: bool = False


class _Smart:
    """One smart placement round: a plan of the queue's head over every backend (see the module docstring)."""

    def __init__(
        self,
        state: SchedulerState,
        now: datetime,
        room: dict[str, int],
        *,
        base: dict[str, int] | None = None,
        queue_ahead_s: float = 0.0,
    ) -> None:
        self.state = state
        self.now = now
        self.room = room
        self.base = base if base is not None else dict(room)  # slots free below max_inflight
        self.queue_ahead_s = queue_ahead_s
        self._expected: dict[tuple[str | None, str], float] = {}
        self._size: dict[str | None, float] = {}
        self._tail: dict[tuple[str, str], float] = {}
        self._capable: dict[tuple[object, ...], tuple[str, ...]] = {}
        self._per_step: dict[str, float] = {}
        self.schedulable = sorted(b.id for b in state.backends.values() if b.schedulable)
        self.vram = {b: int(state.backends[b].capabilities.get("vram_total") or 0) for b in self.schedulable}
        self.backlog: dict[str, float] = {}
        self.checkpoint: dict[str, str | None] = {}
        self.share: dict[str, int] = {}
        for backend in state.backends.values():
            for job_id in backend.inflight:
                job = state.jobs.get(job_id)
                if job is not None:
                    self.share[_flow(job)] = self.share.get(_flow(job), 0) + 1
        for backend_id in self.schedulable:
            self.backlog[backend_id], self.checkpoint[backend_id] = self._queued_work(state.backends[backend_id])
        for backend_id in list(self.room):
            if not self._has_room(backend_id):
                del self.room[backend_id]
        self.switch_cost = self._switch_costs()
        self.waiting: dict[str, int] = {}  # backend without a free slot → jobs planned to wait for it
        self._per_flow: dict[str, int] = {}  # flow → its candidates still to plan (this band)
        self._at_level: dict[int, int] = {}  # share → candidates still to plan of flows with that share

    def _has_room(self, backend_id: str) -> bool:
        """A free slot below `max_inflight`, or one beyond it while the backend's work is short (see place_with)."""
        if self.room.get(backend_id, 0) <= 0:
            return False
        return self.base.get(backend_id, 0) > 0 or self.backlog.get(backend_id, 0.0) < self.queue_ahead_s

    def _queued_work(self, backend: Backend) -> tuple[float, str | None]:
        """Seconds until `backend` has run what it holds, and the checkpoint it holds then. ComfyUI runs one
        prompt at a time in order, so only the first one has been executing (since its start or the previous
        end, whichever is later); the others wait whole."""
        work = 0.0
        loaded = backend.loaded_checkpoint
        measured_switch = self.state.perf.switch_seconds(backend.id)
        first = True
        for job_id in backend.inflight:
            job = self.state.jobs.get(job_id)
            if job is None:
                continue
            duration = self.expected(job, backend.id)
            if job.checkpoint is not None and job.checkpoint != loaded and measured_switch is not None:
                duration += measured_switch  # the expected run is then a warm one
            att = job.in_flight
            if first and att is not None and att.started_at is not None:
                began = max(att.started_at, backend.last_finished_at or att.started_at)
                duration = max(0.0, duration - max(0.0, (self.now - began).total_seconds()))
            first = False
            work += duration
            if job.checkpoint is not None:
                loaded = job.checkpoint
        return work, loaded

    def expected(self, job: Job, backend_id: str) -> float:
        return self._expected_sig(job.signature, backend_id)

    def _expected_sig(self, signature: str | None, backend_id: str) -> float:
        key = (signature, backend_id)
        value = self._expected.get(key)
        if value is None:
            value = self.state.perf.expected(signature, backend_id, DEFAULT_PRIOR_S)
            self._expected[key] = value
        return value

    def size(self, signature: str | None) -> float:
        """A workflow shape's expected duration on the fastest schedulable backend (the unit of rank)."""
        value = self._size.get(signature)
        if value is None:
            value = min((self._expected_sig(signature, b) for b in self.schedulable), default=DEFAULT_PRIOR_S)
            self._size[signature] = value
        return value

    def tail(self, run_id: str, node_id: str, depth: int = 0) -> float:
        """The longest chain of expected work downstream of a run's node (0 for a last stage or a plain job)."""
        key = (run_id, node_id)
        value = self._tail.get(key)
        if value is None:
            run = self.state.runs.get(run_id)
            value = 0.0
            if run is not None and depth < 64:
                for successor in run.successors.get(node_id, ()):
                    value = max(value, self.node_size(run, successor) + self.tail(run_id, successor, depth + 1))
            self._tail[key] = value
        return value

    def node_size(self, run: Run, node_id: str) -> float:
        """A run node's `size`; for a shape no backend has run yet, the run's measured seconds per sampler step
        times the node's steps, when the run has such a measure and the node has steps."""
        sig = run.signatures.get(node_id)
        steps = run.steps.get(node_id, 0)
        if self.state.perf.known(sig) or steps <= 0:
            return self.size(sig)
        per_step = self._per_step.get(run.id)
        if per_step is None:
            measures = [
                self.size(s) / run.steps[n]
                for n, s in run.signatures.items()
                if run.steps.get(n, 0) > 0 and self.state.perf.known(s)
            ]
            per_step = self._per_step[run.id] = statistics.median(measures) if measures else 0.0
        return per_step * steps if per_step > 0 else self.size(sig)

    def capable(self, job: Job) -> tuple[str, ...]:
        """The schedulable backends that may run `job` (its pin only; not the one a retry should move from)."""
        avoid = _avoided(self.state, job)
        models = None if not job.required_models else tuple((k, tuple(v)) for k, v in job.required_models.items())
        key = (job.pinned_backend, avoid, job.required_classes, models)
        found = self._capable.get(key)
        if found is None:
            if job.pinned_backend is not None:
                ids = [job.pinned_backend] if job.pinned_backend in self.backlog else []
            else:
                ids = self.schedulable
            found = tuple(b for b in ids if b != avoid and can_run(self.state.backends[b], job))
            self._capable[key] = found
        return found

    def candidate(self, job: Job) -> _Candidate | None:
        backends = self.capable(job)
        if not backends:
            return None
        run = self.state.runs.get(job.run_id) if job.run_id is not None else None
        if run is not None and job.graph_node_id is not None and job.graph_node_id in run.signatures:
            rank = self.node_size(run, job.graph_node_id) + self.tail(run.id, job.graph_node_id)
        else:
            rank = self.size(job.signature)
        rank += AGE_WEIGHT * max(0.0, (self.now - job.submitted_at).total_seconds())
        return _Candidate(job, _flow(job), rank, backends)

    def switch(self, job: Job, backend_id: str) -> float:
        if job.checkpoint is not None and self.checkpoint[backend_id] != job.checkpoint:
            return self.switch_cost[backend_id]
        return 0.0

    def _switch_costs(self) -> dict[str, float]:
        """Each backend's measured checkpoint switch; else the fleet's median measured one scaled by its relative
        slowness; else a typical run there (until told otherwise, a load costs about one run); else
        `MODEL_LOAD_PRIOR_S`."""
        perf = self.state.perf
        measured = {b: perf.switch_seconds(b) for b in self.schedulable}
        known = [v for v in measured.values() if v is not None]
        typical = perf.typical()
        out: dict[str, float] = {}
        for b, value in measured.items():
            if value is not None:
                out[b] = value
            elif known:
                out[b] = statistics.median(known) * perf.relative_slowness(b)
            elif typical is not None:
                out[b] = min(MODEL_LOAD_PRIOR_S, typical * perf.relative_slowness(b))
            else:
                out[b] = MODEL_LOAD_PRIOR_S
        return out

    def finish(self, job: Job, backend_id: str) -> float:
        return self.backlog[backend_id] + self.switch(job, backend_id) + self.expected(job, backend_id)

    def earliest(self, job: Job, backends: tuple[str, ...]) -> tuple[str, float]:
        """The backend where `job` would finish first (ties: more VRAM, then the id) and that finish."""
        best = min(backends, key=lambda b: (round(self.finish(job, b), 6), -self.vram[b], b))
        return best, self.finish(job, best)

    def best(self, candidates: list[_Candidate], level: int) -> tuple[_Candidate, str, float] | None:
        """Among the candidates of flows at share `level`, sorted by rank (largest first): the largest rank less
        the checkpoint switch its best backend needs; with that backend and the finish there. A backend without a
        free slot that has `PLAN_AHEAD` jobs waiting for it already is out of this round's plan; a candidate
        left with no backend at all is dropped from the round."""
        chosen: tuple[tuple[float, float, int, str], _Candidate, str, float] | None = None
        cache: dict[tuple[str | None, str | None, tuple[str, ...]], tuple[str, float, float]] = {}
        for c in candidates:
            if c.planned or self.share.get(c.flow, 0) != level:
                continue
            if chosen is not None and -c.rank >= chosen[0][0]:
                break  # neither it nor any after it can rank above the best so far, even without a switch
            key = (c.job.signature, c.job.checkpoint, c.backends)
            found = cache.get(key)
            if found is None:
                open_ = tuple(b for b in c.backends if b in self.room or self.waiting.get(b, 0) < PLAN_AHEAD)
                if not open_:
                    self._settle(c)
                    continue
                backend, finish = self.earliest(c.job, open_)
                found = cache[key] = (backend, finish, self.switch(c.job, backend))
            backend, finish, switch = found
            score = (-c.rank + switch, -c.rank, c.job.order, c.job.id)
            if chosen is None or score < chosen[0]:
                chosen = (score, c, backend, finish)
        return None if chosen is None else (chosen[1], chosen[2], chosen[3])

    def _settle(self, c: _Candidate, *, planned: bool = False) -> None:
        """`c` leaves the round's candidates; when `planned`, its flow's share goes up by one."""
        c.planned = True
        share = self.share.get(c.flow, 0)
        self._per_flow[c.flow] -= 1
        moves = [(share, -1 - self._per_flow[c.flow])]
        if planned:
            self.share[c.flow] = share + 1
            moves.append((share + 1, self._per_flow[c.flow]))
        else:
            moves.append((share, self._per_flow[c.flow]))
        for level, n in moves:
            self._at_level[level] = self._at_level.get(level, 0) + n
            if self._at_level[level] <= 0:
                del self._at_level[level]

    def candidates(self, priority: int) -> list[_Candidate]:
        """The first `WINDOW` placeable jobs of each flow in the band, at most `MAX_CANDIDATES` in all, largest
        rank first (then arrival)."""
        per_flow: dict[str, int] = {}
        out: list[_Candidate] = []
        for job in _eligible(self.state, self.now, priority):
            f = _flow(job)
            if per_flow.get(f, 0) >= WINDOW:
                continue
            c = self.candidate(job)
            if c is None:
                continue
            per_flow[f] = per_flow.get(f, 0) + 1
            out.append(c)
            if len(out) >= MAX_CANDIDATES:
                break
        out.sort(key=lambda c: (-c.rank, c.job.order, c.job.id))
        return out

    def place(self) -> list[Placement]:
        placements: list[Placement] = []
        for priority in sorted(self.state.queues, reverse=True):
            candidates = self.candidates(priority)
            self._per_flow = {}
            for c in candidates:
                self._per_flow[c.flow] = self._per_flow.get(c.flow, 0) + 1
            self._at_level = {}
            for f, n in self._per_flow.items():
                self._at_level[self.share.get(f, 0)] = self._at_level.get(self.share.get(f, 0), 0) + n
            while self._at_level and self.room:
                level = min(self._at_level)
                found = self.best(candidates, level)
                if found is None:
                    if level in self._at_level:  # pragma: no cover - the counts follow every candidate
                        break
                    continue  # every candidate at that level was dropped: the next level
                c, backend, finish = found
                self._settle(c, planned=True)
                self.backlog[backend] = finish
                if c.job.checkpoint is not None:
                    self.checkpoint[backend] = c.job.checkpoint
                if backend in self.room:
                    placements.append(Placement(c.job.id, c.job.next_attempt, backend))
                    self.room[backend] -= 1
                    self.base[backend] = self.base.get(backend, 0) - 1
                    if not self._has_room(backend):
                        del self.room[backend]
                else:
                    self.waiting[backend] = self.waiting.get(backend, 0) + 1
            if not self.room:
                break
        return placements
