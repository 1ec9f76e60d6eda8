"""Queue depth under `smart`: a server takes prompts beyond `max_inflight` only while what it holds is short."""

from __future__ import annotations

from orch_scheduler.domain.fold import apply_all
from orch_scheduler.domain.placement import place
from orch_scheduler.domain.state import SchedulerState
from tests.scheduler.factories import at, registered, scheduled, started, submitted, succeeded


def _measured(run_s: float, *, runs: int = 3) -> SchedulerState:
    """One backend that has run `runs` jobs of the default shape, each taking `run_s` seconds."""
    state = apply_all(SchedulerState(), [registered("gpu")])
    t = 1.0
    for i in range(runs):
        job = f"done-{i}"
        apply_all(
            state,
            [
                submitted(job, t=t),
                scheduled(job, "gpu", t=t),
                started(job, "gpu", t=t),
                succeeded(job, "gpu", t=t + run_s),
            ],
        )
        t += run_s + 1
    return state


def _queue(state: SchedulerState, n: int) -> None:
    apply_all(state, [submitted(f"q-{i}", t=100) for i in range(n)])


def test_a_server_running_very_short_jobs_gets_a_deeper_queue_up_to_the_depth_limit():
    state = _measured(0.01)
    _queue(state, 40)
    placed = place(state, at(101), 2, queue_ahead_s=0.25, max_depth=16)
    assert len(placed) == 16
    assert {p.backend_id for p in placed} == {"gpu"}


def test_long_jobs_never_go_beyond_the_in_flight_cap():
    state = _measured(5.0)
    _queue(state, 40)
    assert len(place(state, at(101), 2, queue_ahead_s=0.25, max_depth=16)) == 2


def test_unmeasured_work_is_never_queued_deeper_than_the_cap():
    state = apply_all(SchedulerState(), [registered("gpu")])
    _queue(state, 40)
    assert len(place(state, at(101), 2, queue_ahead_s=0.25, max_depth=16)) == 2


def test_the_depth_counts_what_the_server_already_holds():
    state = _measured(0.01)
    _queue(state, 40)
    first = place(state, at(101), 2, queue_ahead_s=0.25, max_depth=16)
    apply_all(state, [scheduled(p.job_id, p.backend_id, t=101) for p in first[:10]])
    assert len(place(state, at(101), 2, queue_ahead_s=0.25, max_depth=16)) == 6


def test_without_queue_ahead_the_cap_is_the_in_flight_limit():
    state = _measured(0.01)
    _queue(state, 40)
    assert len(place(state, at(101), 2)) == 2
    assert len(place(state, at(101), 2, policy="least_loaded", queue_ahead_s=0.25, max_depth=16)) == 2
