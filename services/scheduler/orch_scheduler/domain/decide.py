"""Decisions: what the scheduler should do now, given its state. Pure apart from the inputs it is handed.

`decide` returns events to publish (each is then appended to the log and folded, so the next round sees it) and
cancel commands to send. The caller gives it the clock (`now`) and the prompt-id factory, so the decisions
themselves are recorded facts and a replay never re-decides. One round answers what the state shows:

1. attempts in flight on a lost backend      → JobAttemptFailed(backend_lost), and CancelJob for that attempt to
                                                its agent (a backend that was only partitioned then interrupts or
                                                deletes the superseded prompt instead of finishing it)
2. a failed attempt awaiting a decision      → JobCancelled if cancel was asked, JobRetried(attempt+1, not_before)
                                                when the reason is retryable and attempts are left, else JobFailed
3. a cancellation request                    → JobCancelled when nothing is in flight, else CancelJob to its agent
4. runs: nodes whose inputs are ready        → JobSubmitted; cancelled run items → JobCancellationRequested
5. queued jobs that can be placed            → JobScheduled (the caller then sends RunJob), under `policy`

Callers run rounds until one returns nothing (a lost backend needs three: fail, retry, place elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orch_common.contracts import events as ev
from orch_common.contracts.commands import CancelJob
from orch_scheduler.domain.placement import PlacementPolicy, place
from orch_scheduler.domain.state import BackendStatus, SchedulerState
from orch_scheduler.runs.decide import decide_runs

__all__ = ["Decisions", "decide"]


@dataclass(slots=True)
class Decisions:
    events: list[Any] = field(default_factory=list)
    cancels: list[CancelJob] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.cancels)


def decide(
    state: SchedulerState,
    now: datetime,
    *,
    max_inflight: int,
    new_prompt_id: Callable[[], str],
    cancels_sent: Container[str] = (),
    policy: PlacementPolicy | str = PlacementPolicy.SMART,
    queue_ahead_s: float = 0.0,
    max_depth: int = 0,
) -> Decisions:
    """One round of decisions (see the module docstring). `cancels_sent`: command ids of CancelJob already sent."""
    out = Decisions()
    for backend in state.backends.values():
        if backend.status == BackendStatus.LOST:
            for job_id, attempt in backend.inflight.items():
                att = state.jobs[job_id].current
                if att is not None and att.number == attempt:
                    cancel = CancelJob(backend_id=backend.id, job_id=job_id, attempt=attempt, prompt_id=att.prompt_id)
                    if cancel.command_id not in cancels_sent:
                        out.cancels.append(cancel)
                out.events.append(
                    ev.JobAttemptFailed(
                        job_id=job_id,
                        attempt=attempt,
                        backend_id=backend.id,
                        reason=ev.FailureReason.BACKEND_LOST,
                        message=f"backend {backend.id} was lost",
                        occurred_at=now,
                    )
                )
    for job_id in state.pending_failures:
        job = state.jobs[job_id]
        pf = job.pending_failure
        if pf is None:  # pragma: no cover - the fold keeps the index and the field together
            continue
        if job.cancel_requested:
            out.events.append(ev.JobCancelled(job_id=job_id, attempt=pf.attempt, occurred_at=now))
        elif pf.reason.retryable and pf.attempt < job.retry.max_attempts:
            delay = job.retry.delay_before(pf.attempt + 1)
            out.events.append(
                ev.JobRetried(
                    job_id=job_id,
                    attempt=pf.attempt + 1,
                    reason=pf.reason,
                    not_before=now + timedelta(seconds=delay) if delay > 0 else None,
                    occurred_at=now,
                )
            )
        else:
            out.events.append(
                ev.JobFailed(
                    job_id=job_id,
                    attempt=pf.attempt,
                    reason=pf.reason,
                    message=pf.message,
                    node_id=pf.node_id,
                    node_type=pf.node_type,
                    details=pf.details or {},
                    occurred_at=now,
                )
            )
    for job_id in state.pending_cancels:
        job = state.jobs[job_id]
        if job.pending_failure is not None:
            continue  # answered above
        att = job.in_flight
        if att is None:
            current = job.current
            out.events.append(ev.JobCancelled(job_id=job_id, attempt=current.number if current else 0, occurred_at=now))
        elif _reachable(state, att.backend_id):
            cancel = CancelJob(backend_id=att.backend_id, job_id=job_id, attempt=att.number, prompt_id=att.prompt_id)
            if cancel.command_id not in cancels_sent:
                out.cancels.append(cancel)
    out.events.extend(decide_runs(state, now))
    for p in place(state, now, max_inflight, policy, queue_ahead_s=queue_ahead_s, max_depth=max_depth):
        out.events.append(
            ev.JobScheduled(
                job_id=p.job_id,
                attempt=p.attempt,
                backend_id=p.backend_id,
                prompt_id=new_prompt_id(),
                reason="placed" if p.attempt == 1 else "retry",
                occurred_at=now,
            )
        )
    return out


def _reachable(state: SchedulerState, backend_id: str) -> bool:
    backend = state.backends.get(backend_id)
    return backend is None or backend.status != BackendStatus.LOST
